using System.Text;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// Follows a machine's serial console file while qemu appends to it: each <see cref="ReadNew"/> returns the lines
/// completed since the last call (a line still being written waits for its newline), and <see cref="Tail"/> keeps the
/// last lines for a report. The file may not exist yet (qemu creates it as it starts): that reads as no lines.
/// </summary>
public sealed class ConsoleFile
{
    readonly string _path;
    readonly int _keep;
    readonly Queue<string> _tail = new();
    readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    readonly StringBuilder _partial = new();
    long _offset;

    public ConsoleFile(string path, int keep = 20)
    {
        _path = path;
        _keep = keep;
    }

    public string Path => _path;

    /// <summary>Lines completed since the last call; with <paramref name="final"/> an unterminated last line counts too (the writer is gone).</summary>
    public IReadOnlyList<string> ReadNew(bool final = false)
    {
        var lines = new List<string>();
        try
        {
            using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.Length < _offset) _offset = 0; // truncated underneath us: start over
            stream.Seek(_offset, SeekOrigin.Begin);
            var bytes = new byte[16 * 1024];
            var chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
            int n;
            while ((n = stream.Read(bytes, 0, bytes.Length)) > 0)
            {
                _offset += n;
                var c = _decoder.GetChars(bytes, 0, n, chars, 0);
                for (var i = 0; i < c; i++)
                {
                    if (chars[i] == '\n') { lines.Add(TakeLine()); }
                    else if (chars[i] != '\r') _partial.Append(chars[i]);
                }
            }
        }
        catch (FileNotFoundException) { }
        catch (DirectoryNotFoundException) { }
        if (final && _partial.Length > 0) lines.Add(TakeLine());
        foreach (var line in lines)
        {
            _tail.Enqueue(line);
            if (_tail.Count > _keep) _tail.Dequeue();
        }
        return lines;
    }

    /// <summary>The last lines read (at most the number kept), oldest first, with a line still being written at the end.</summary>
    public IReadOnlyList<string> Tail => _partial.Length == 0 ? [.. _tail] : [.. _tail.Skip(_tail.Count == _keep ? 1 : 0), _partial.ToString()];

    string TakeLine()
    {
        var line = _partial.ToString();
        _partial.Clear();
        return line;
    }
}

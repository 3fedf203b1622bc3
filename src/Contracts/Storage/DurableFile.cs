namespace SiteRecovery.Contracts.Storage;

/// <summary>
/// Small metadata files replaced atomically: temp file, fsync, rename, directory fsync. The one way every host
/// (master target, process server, agent) writes its small state files, and reads them back with an error that
/// names the file and says what to do when one is empty or damaged.
/// </summary>
public static class DurableFile
{
    public const string TempSuffix = ".tmp";

    /// <summary>
    /// After a crash <paramref name="path"/> holds either its old content or <paramref name="bytes"/>, never a mix.
    /// A temp file a crash left behind is simply overwritten. <paramref name="hook"/> is called with
    /// "{what}.temp-written" and "{what}.renamed" (crash tests stop there).
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes, Action<string>? hook, string what)
    {
        var temp = path + TempSuffix;
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }
        hook?.Invoke($"{what}.temp-written");
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(Path.GetFullPath(path))!);
        hook?.Invoke($"{what}.renamed");
    }

    /// <summary>
    /// <see cref="WriteAtomically"/> unless <paramref name="path"/> already holds exactly <paramref name="bytes"/>
    /// (a file rewritten at every open would otherwise cost two fsyncs per open). Returns whether it wrote.
    /// </summary>
    public static bool WriteIfChanged(string path, ReadOnlySpan<byte> bytes, Action<string>? hook, string what)
    {
        if (File.Exists(path))
        {
            var current = File.ReadAllBytes(path);
            if (current.AsSpan().SequenceEqual(bytes)) return false;
        }
        WriteAtomically(path, bytes, hook, what);
        return true;
    }

    /// <summary>
    /// Reads and parses a small file. An empty file, or one <paramref name="parse"/> rejects (by throwing
    /// <see cref="FormatException"/>, <see cref="InvalidDataException"/>, <see cref="System.Text.Json.JsonException"/>,
    /// <see cref="OverflowException"/> or <see cref="ArgumentException"/>), is a <see cref="DurableFileUnreadableException"/>
    /// naming the full path, what the file records and <paramref name="remedy"/>: what the operator should do.
    /// </summary>
    public static T Read<T>(string path, string what, Func<byte[], T> parse, string remedy)
    {
        var full = Path.GetFullPath(path);
        var bytes = File.ReadAllBytes(full);
        if (bytes.Length == 0) throw new DurableFileUnreadableException(full, what, "is empty", remedy);
        try
        {
            return parse(bytes);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Text.Json.JsonException or OverflowException or ArgumentException)
        {
            throw new DurableFileUnreadableException(full, what, $"cannot be parsed ({e.Message})", remedy, e);
        }
    }
}

/// <summary>A small state file that is empty, torn or unparsable: which file, what it records, and what to do.</summary>
/// <remarks>An <see cref="IOException"/>: the file is there but cannot be used, like a read that failed.</remarks>
public sealed class DurableFileUnreadableException(string path, string what, string problem, string remedy, Exception? inner = null)
    : IOException($"{what} '{path}' {problem} (what a write cut short by a power loss, or damage on disk, leaves). {remedy}", inner)
{
    /// <summary>Full path of the file.</summary>
    public string FilePath { get; } = path;
    /// <summary>What is wrong with it ("is empty", "cannot be parsed (...)").</summary>
    public string Problem { get; } = problem;
    /// <summary>What the operator should do.</summary>
    public string Remedy { get; } = remedy;
}

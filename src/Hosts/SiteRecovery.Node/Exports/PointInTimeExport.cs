using Microsoft.Win32.SafeHandles;
using SiteRecovery.Capture;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Node.Exports;

/// <summary>
/// A recovery point served over NBD without materializing it. Read-only, or copy-on-write: writes go to a sparse
/// overlay file in 4 KiB blocks (a partial block is first filled from the point), reads prefer the overlay. The
/// journal, base and replica are never written; discarding the export deletes the overlay.
/// </summary>
public sealed class PointInTimeExport : INbdExport, IDisposable
{
    const int Block = 4096;
    readonly PointInTimeView _view;
    readonly SafeFileHandle? _overlay;
    readonly string? _overlayPath;
    readonly bool[] _present;
    readonly object _writeGate = new();
    static readonly byte[] Zeroes = new byte[64 * 1024];

    public PointInTimeExport(string name, PointInTimeView view, string? overlayPath)
    {
        Name = name;
        _view = view;
        _present = new bool[(view.Size + Block - 1) / Block];
        if (overlayPath is not null)
        {
            _overlayPath = overlayPath;
            // The overlay holds what a test machine wrote over a recovered disk: created 0600, and never over an existing name.
            SiteRecovery.Contracts.Storage.PrivateFiles.CreateNew(overlayPath);
            _overlay = File.OpenHandle(overlayPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            RandomAccess.SetLength(_overlay, view.Size);
        }
    }

    public string Name { get; }
    public long Size => _view.Size;
    public bool ReadOnly => _overlay is null;
    public long Sequence => _view.Sequence;
    /// <summary>Bytes held by the overlay (written 4 KiB blocks).</summary>
    public long OverlayBytes { get { lock (_writeGate) return _present.LongCount(p => p) * Block; } }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        var span = buffer.Span;
        if (_overlay is null)
        {
            _view.Read(offset, span);
            return ValueTask.CompletedTask;
        }
        lock (_writeGate)
        {
            var pos = offset;
            var end = offset + span.Length;
            while (pos < end)
            {
                var present = _present[pos / Block];
                var next = pos;
                while (next < end && _present[next / Block] == present) next = Math.Min(end, (next / Block + 1) * Block);
                var dest = span.Slice((int)(pos - offset), (int)(next - pos));
                if (present) ReadOverlay(pos, dest);
                else _view.Read(pos, dest);
                pos = next;
            }
        }
        return ValueTask.CompletedTask;
    }

    void ReadOverlay(long offset, Span<byte> dest)
    {
        while (dest.Length > 0)
        {
            var n = RandomAccess.Read(_overlay!, dest, offset);
            if (n == 0) { dest.Clear(); return; }
            dest = dest[n..];
            offset += n;
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        Put(offset, data.Span);
        if (fua) RandomAccess.FlushToDisk(_overlay!);
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
    {
        for (var done = 0; done < length;)
        {
            var n = Math.Min(length - done, Zeroes.Length);
            Put(offset + done, Zeroes.AsSpan(0, n));
            done += n;
        }
        if (fua) RandomAccess.FlushToDisk(_overlay!);
        return ValueTask.CompletedTask;
    }

    public ValueTask TrimAsync(long offset, int length, CancellationToken ct) => WriteZeroesAsync(offset, length, false, ct);

    public ValueTask FlushAsync(CancellationToken ct)
    {
        if (_overlay is not null) RandomAccess.FlushToDisk(_overlay);
        return ValueTask.CompletedTask;
    }

    /// <summary>Writes into the overlay: whole blocks directly, a partial block merged with what the point (or overlay) holds.</summary>
    void Put(long offset, ReadOnlySpan<byte> data)
    {
        if (_overlay is null) throw new InvalidOperationException($"export {Name} is read-only");
        lock (_writeGate)
        {
            var end = offset + data.Length;
            var pos = offset;
            Span<byte> block = stackalloc byte[Block];
            while (pos < end)
            {
                var b = pos / Block;
                var blockStart = b * Block;
                var blockLen = (int)Math.Min(Block, Size - blockStart);
                if (pos == blockStart && end >= blockStart + blockLen)
                {
                    // A run of whole blocks in one write.
                    var runEnd = blockStart + (end - blockStart) / Block * Block;
                    if (end == Size) runEnd = Size;
                    RandomAccess.Write(_overlay, data.Slice((int)(pos - offset), (int)(runEnd - pos)), pos);
                    for (var k = b; k * Block < runEnd; k++) _present[k] = true;
                    pos = runEnd;
                    continue;
                }
                var part = block[..blockLen];
                if (_present[b]) ReadOverlay(blockStart, part);
                else _view.Read(blockStart, part);
                var take = (int)(Math.Min(end, blockStart + blockLen) - pos);
                data.Slice((int)(pos - offset), take).CopyTo(part[(int)(pos - blockStart)..]);
                RandomAccess.Write(_overlay, part, blockStart);
                _present[b] = true;
                pos += take;
            }
        }
    }

    public void Dispose()
    {
        _view.Dispose();
        if (_overlay is not null)
        {
            _overlay.Dispose();
            try { File.Delete(_overlayPath!); } catch (IOException) { }
        }
    }
}

using System.Collections;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// Regions of a disk changed at the source but not in the stream, because the stream's buffer was
/// full when they were written. One bit per <see cref="BlockSize"/> block. Guarded by the disk's
/// write lock (the same lock under which changes are applied and numbered).
/// </summary>
public sealed class DirtyRegions(long diskSize, int blockSize)
{
    readonly BitArray _bits = new((int)((diskSize + blockSize - 1) / blockSize));
    int _count;
    int _cursor;

    public int BlockSize => blockSize;
    public int Count => Volatile.Read(ref _count);

    public void Mark(long offset, long length)
    {
        if (length <= 0) return;
        var first = (int)(offset / blockSize);
        var last = (int)((offset + length - 1) / blockSize);
        for (var i = first; i <= last && i < _bits.Length; i++)
        {
            if (_bits[i]) continue;
            _bits[i] = true;
            _count++;
        }
    }

    /// <summary>True when any block of <c>[offset, offset + length)</c> is dirty.</summary>
    public bool AnyIn(long offset, long length)
    {
        if (_count == 0 || length <= 0) return false;
        var first = (int)(offset / blockSize);
        var last = (int)Math.Min(_bits.Length - 1, (offset + length - 1) / blockSize);
        for (var i = first; i <= last; i++)
            if (_bits[i]) return true;
        return false;
    }

    /// <summary>Takes the next dirty block (clearing it) in a round-robin scan; false when none is left.</summary>
    public bool TryTakeNext(out long offset)
    {
        offset = 0;
        if (_count == 0) return false;
        for (var n = 0; n < _bits.Length; n++)
        {
            var i = (_cursor + n) % _bits.Length;
            if (!_bits[i]) continue;
            _bits[i] = false;
            _count--;
            _cursor = i + 1;
            offset = (long)i * blockSize;
            return true;
        }
        return false;
    }
}

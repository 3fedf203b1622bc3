using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Retention;

/// <summary>
/// The image of a disk at the oldest retained point (<see cref="Sequence"/>): a sparse file <c>base.img</c> plus
/// <c>base.manifest</c> (sequence, highest delta time, an XxHash3 per 1 MiB block, a trailer hash over the manifest).
/// Every block is verified against its hash the first time it is read after it last changed.
/// </summary>
/// <remarks>
/// Rolling forward (crash-safe redo): (1) the manifest is rewritten with <c>RollingTo = target</c>; (2) the journal
/// records (Sequence, target] are applied to base.img and it is fsync'd; (3) the hashes of the touched blocks are
/// recomputed and the manifest rewritten with <c>Sequence = target</c>. Only then may the journal drop those
/// records. A crash before (3) leaves a manifest naming the roll; opening re-applies (deltas are absolute writes, so
/// applying twice is harmless) and finishes it. Readers take the read lock; a roll holds the write lock while it
/// changes the file, and it only changes ranges written in (Sequence, target] — ranges every open view at or above
/// target takes from the journal instead — so views stay correct across a roll.
/// </remarks>
public sealed class BaseImage : IDisposable, IPointBase
{
    public const int BlockSize = 1 << 20;
    public const string ImageName = "base.img";
    public const string ManifestName = "base.manifest";
    private const ulong Magic = 0x3130_4553_4142_5253; // "SRBASE01"
    private const int HeaderBytes = 8 * 6 + 4;

    private readonly string _directory;
    private readonly SafeFileHandle _handle;
    private readonly ulong[] _hashes;
    private readonly bool[] _verified;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private static readonly byte[] ZeroBlock = new byte[BlockSize];

    private BaseImage(string directory, long size, SafeFileHandle handle, ulong[] hashes)
    {
        _directory = directory;
        Size = size;
        _handle = handle;
        _hashes = hashes;
        _verified = new bool[hashes.Length];
    }

    public long Size { get; }
    /// <summary>The sequence the image is at (0: the all-zero disk before the first write).</summary>
    public long Sequence { get; private set; }
    /// <summary>Highest delta time at or below <see cref="Sequence"/>; 0 when <see cref="Sequence"/> is 0.</summary>
    public long MaxTimeUnixMs { get; private set; }
    /// <summary>Target of an interrupted roll found at open (0 when none).</summary>
    public long RollingTo { get; private set; }
    public int BlockCount => _hashes.Length;
    public string ImagePath => Path.Combine(_directory, ImageName);

    /// <summary>Opens the base in <paramref name="directory"/>, creating an all-zero one at sequence 0 if there is none.</summary>
    public static BaseImage Open(string directory, long size)
    {
        PrivateFiles.CreateDirectory(directory);
        var image = Path.Combine(directory, ImageName);
        var manifest = Path.Combine(directory, ManifestName);
        var blocks = (int)((size + BlockSize - 1) / BlockSize);
        if (!File.Exists(manifest))
        {
            // A fresh base: create the hole-only image first, then the manifest that makes it valid.
            using (var file = PrivateFiles.Open(image, FileMode.Create))
            {
                var h = file.SafeFileHandle;
                RandomAccess.SetLength(h, size);
                RandomAccess.FlushToDisk(h);
            }
            var hashes = new ulong[blocks];
            for (var i = 0; i < blocks; i++) hashes[i] = XxHash3.HashToUInt64(ZeroBlock.AsSpan(0, BlockLength(size, i)));
            var fresh = new BaseImage(directory, size, File.OpenHandle(image, FileMode.Open, FileAccess.ReadWrite, FileShare.Read), hashes);
            fresh.WriteManifest(null);
            return fresh;
        }
        var bytes = File.ReadAllBytes(manifest);
        var s = bytes.AsSpan();
        if (s.Length < HeaderBytes + 8 || BinaryPrimitives.ReadUInt64LittleEndian(s) != Magic)
            throw new InvalidDataException($"base manifest '{manifest}': not a base manifest (bad magic or too short)");
        if (XxHash3.HashToUInt64(s[..^8]) != BinaryPrimitives.ReadUInt64LittleEndian(s[^8..]))
            throw new InvalidDataException($"base manifest '{manifest}': checksum mismatch");
        var recordedSize = BinaryPrimitives.ReadInt64LittleEndian(s[8..]);
        if (recordedSize != size) throw new InvalidDataException($"base manifest '{manifest}': made for a disk of {recordedSize} bytes, not {size}");
        var count = BinaryPrimitives.ReadInt32LittleEndian(s[48..]);
        if (count != blocks || s.Length != HeaderBytes + 8 * count + 8)
            throw new InvalidDataException($"base manifest '{manifest}': {count} block hashes for a disk of {blocks} blocks");
        var loaded = new ulong[count];
        for (var i = 0; i < count; i++) loaded[i] = BinaryPrimitives.ReadUInt64LittleEndian(s[(HeaderBytes + 8 * i)..]);
        if (!File.Exists(image)) throw new InvalidDataException($"base image '{image}' is missing (its manifest exists)");
        var handle = File.OpenHandle(image, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        if (RandomAccess.GetLength(handle) != size)
        {
            handle.Dispose();
            throw new InvalidDataException($"base image '{image}' is not {size} bytes long");
        }
        return new BaseImage(directory, size, handle, loaded)
        {
            Sequence = BinaryPrimitives.ReadInt64LittleEndian(s[24..]),
            MaxTimeUnixMs = BinaryPrimitives.ReadInt64LittleEndian(s[32..]),
            RollingTo = BinaryPrimitives.ReadInt64LittleEndian(s[40..]),
        };
    }

    /// <summary>
    /// Creates the base at sequence 0 from a disk that was not empty before its first delta (a replica adopted from the
    /// disk's original file, for a reprotect): every block read through <paramref name="read"/>, the non-zero ones
    /// written, the image fsync'd, then the manifest that makes it valid. Does nothing when a manifest exists (a restart
    /// after the first open); a crash before the manifest leaves no base, and the next open creates it again.
    /// Without this, a point of such a disk would be built on zeroes: a disk that never existed.
    /// </summary>
    public static async Task SeedAsync(string directory, long size, Func<long, Memory<byte>, CancellationToken, ValueTask> read, CancellationToken ct)
    {
        PrivateFiles.CreateDirectory(directory);
        if (File.Exists(Path.Combine(directory, ManifestName))) return;
        var blocks = (int)((size + BlockSize - 1) / BlockSize);
        var hashes = new ulong[blocks];
        var buffer = new byte[BlockSize];
        var image = Path.Combine(directory, ImageName);
        using (var file = PrivateFiles.Open(image, FileMode.Create))
        {
            var h = file.SafeFileHandle;
            RandomAccess.SetLength(h, size);
            for (var i = 0; i < blocks; i++)
            {
                var block = buffer.AsMemory(0, BlockLength(size, i));
                await read((long)i * BlockSize, block, ct).ConfigureAwait(false);
                hashes[i] = XxHash3.HashToUInt64(block.Span);
                // Zero blocks stay holes.
                if (block.Span.IndexOfAnyExcept((byte)0) >= 0) RandomAccess.Write(h, block.Span, (long)i * BlockSize);
            }
            RandomAccess.FlushToDisk(h);
        }
        using var seeded = new BaseImage(directory, size, File.OpenHandle(image, FileMode.Open, FileAccess.ReadWrite, FileShare.Read), hashes);
        seeded.WriteManifest(null);
    }

    private static int BlockLength(long size, int block) => (int)Math.Min(BlockSize, size - (long)block * BlockSize);

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>, verifying each block the first time.</summary>
    public void Read(long offset, Span<byte> buffer)
    {
        _lock.EnterReadLock();
        try
        {
            while (buffer.Length > 0)
            {
                var block = (int)(offset / BlockSize);
                var inBlock = (int)(offset - (long)block * BlockSize);
                var n = Math.Min(buffer.Length, BlockLength(Size, block) - inBlock);
                if (!Volatile.Read(ref _verified[block])) VerifyBlockLocked(block);
                ReadExactly(offset, buffer[..n]);
                buffer = buffer[n..];
                offset += n;
            }
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>Reads one whole block into <paramref name="buffer"/> (at least <see cref="BlockSize"/> long) and verifies it; returns its length.</summary>
    public int ReadBlock(int block, Span<byte> buffer)
    {
        _lock.EnterReadLock();
        try
        {
            var len = BlockLength(Size, block);
            ReadExactly((long)block * BlockSize, buffer[..len]);
            CheckHash(block, buffer[..len]);
            Volatile.Write(ref _verified[block], true);
            return len;
        }
        finally { _lock.ExitReadLock(); }
    }

    private void VerifyBlockLocked(int block)
    {
        var len = BlockLength(Size, block);
        var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(len);
        try
        {
            ReadExactly((long)block * BlockSize, buf.AsSpan(0, len));
            CheckHash(block, buf.AsSpan(0, len));
            Volatile.Write(ref _verified[block], true);
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
    }

    private void CheckHash(int block, ReadOnlySpan<byte> data)
    {
        var got = XxHash3.HashToUInt64(data);
        if (got != _hashes[block])
            throw new InvalidDataException($"base image '{ImagePath}' block {block} (bytes {(long)block * BlockSize}..): checksum mismatch (stored 0x{_hashes[block]:x16}, computed 0x{got:x16})");
    }

    private void ReadExactly(long offset, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var n = RandomAccess.Read(_handle, buffer, offset);
            if (n == 0) { buffer.Clear(); return; }
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Step 1 of a roll: records the intent, so a crash part-way is finished at the next open.</summary>
    public void BeginRoll(long target, Action<string>? hook)
    {
        RollingTo = target;
        WriteManifest(hook);
    }

    /// <summary>
    /// Steps 2 and 3 of a roll: applies <paramref name="deltas"/> (the journal records after <see cref="Sequence"/>
    /// through <see cref="RollingTo"/>, in order) and commits the new sequence. <paramref name="hook"/> sees
    /// "roll.applying" half-way through and "roll.applied" before the manifest is rewritten.
    /// </summary>
    public void ApplyRoll(IEnumerable<Delta> deltas, Action<string>? hook)
    {
        var target = RollingTo;
        if (target <= Sequence) throw new InvalidOperationException($"base '{ImagePath}': no roll in progress");
        var touched = new SortedSet<int>();
        var maxTime = MaxTimeUnixMs;
        var expected = Sequence + 1;
        _lock.EnterWriteLock();
        try
        {
            foreach (var d in deltas)
            {
                if (d.Sequence != expected)
                    throw new InvalidDataException($"base '{ImagePath}': roll to {target} got record #{d.Sequence}, expected #{expected}");
                maxTime = Math.Max(maxTime, d.TimeUnixMs);
                if (d.Kind is DeltaKind.Write or DeltaKind.Zero or DeltaKind.Trim && d.Length > 0)
                {
                    if (d.Offset < 0 || d.Offset + d.Length > Size)
                        throw new InvalidDataException($"base '{ImagePath}': record #{d.Sequence} covers {d.Offset}..{d.Offset + d.Length}, past the disk's {Size} bytes");
                    if (d.Kind == DeltaKind.Write) RandomAccess.Write(_handle, d.Payload.Span, d.Offset);
                    else for (long o = d.Offset, end = d.Offset + d.Length; o < end; o += BlockSize)
                            RandomAccess.Write(_handle, ZeroBlock.AsSpan(0, (int)Math.Min(BlockSize, end - o)), o);
                    for (var b = (int)(d.Offset / BlockSize); b <= (int)((d.Offset + d.Length - 1) / BlockSize); b++)
                    {
                        touched.Add(b);
                        _verified[b] = false;
                    }
                }
                if (expected == (Sequence + target) / 2) hook?.Invoke("roll.applying");
                expected++;
            }
            if (expected != target + 1)
                throw new InvalidDataException($"base '{ImagePath}': roll to {target} ended at record #{expected - 1}");
            RandomAccess.FlushToDisk(_handle);
            hook?.Invoke("roll.applied");
            var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(BlockSize);
            try
            {
                foreach (var b in touched)
                {
                    var len = BlockLength(Size, b);
                    ReadExactly((long)b * BlockSize, buf.AsSpan(0, len));
                    _hashes[b] = XxHash3.HashToUInt64(buf.AsSpan(0, len));
                    _verified[b] = true;
                }
            }
            finally { System.Buffers.ArrayPool<byte>.Shared.Return(buf); }
            var (oldSequence, oldTime, oldRolling) = (Sequence, MaxTimeUnixMs, RollingTo);
            (Sequence, MaxTimeUnixMs, RollingTo) = (target, maxTime, 0);
            try { WriteManifest(hook); }
            catch
            {
                (Sequence, MaxTimeUnixMs, RollingTo) = (oldSequence, oldTime, oldRolling);
                throw;
            }
        }
        finally { _lock.ExitWriteLock(); }
    }

    private void WriteManifest(Action<string>? hook)
    {
        var bytes = new byte[HeaderBytes + 8 * _hashes.Length + 8];
        var s = bytes.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(s, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(s[8..], Size);
        BinaryPrimitives.WriteInt64LittleEndian(s[16..], BlockSize);
        BinaryPrimitives.WriteInt64LittleEndian(s[24..], Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(s[32..], MaxTimeUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(s[40..], RollingTo);
        BinaryPrimitives.WriteInt32LittleEndian(s[48..], _hashes.Length);
        for (var i = 0; i < _hashes.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(s[(HeaderBytes + 8 * i)..], _hashes[i]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[^8..], XxHash3.HashToUInt64(s[..^8]));
        DurableFile.WriteAtomically(Path.Combine(_directory, ManifestName), bytes, hook, RollingTo > 0 ? "roll-intent" : "base-manifest");
    }

    public void Dispose()
    {
        _handle.Dispose();
        _lock.Dispose();
    }
}

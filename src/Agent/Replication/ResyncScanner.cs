using System.Buffers;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// Reads the source disk block by block and appends each block to the stream. Each block is read
/// under the disk's write lock and numbered in the same critical section, so a write that lands
/// later always gets a later sequence and the replica converges to the source. For a new replica
/// (all zeroes) a zero block is equal already and is skipped. Otherwise the replica's block hashes,
/// taken once the target has applied everything before the resync began, decide: an equal block is
/// skipped, a differing zero block travels as a zero-range marker (never as data), any other
/// differing block as data. Without hashes (path down) every block is sent: slower, never wrong.
/// </summary>
public sealed class ResyncScanner(ReplicatedExport export, int blockSize, Func<long, int, Task<IReadOnlyList<ulong>?>>? replicaHashes = null,
    IReadOnlyList<(long Offset, long Length)>? ranges = null)
{
    /// <summary>The disk ranges covered by <paramref name="extents"/> of <paramref name="extentBytes"/>, adjacent ones merged.</summary>
    public static IReadOnlyList<(long Offset, long Length)> RangesOf(IEnumerable<long> extents, int extentBytes, long size)
    {
        var result = new List<(long Offset, long Length)>();
        foreach (var e in extents.Order())
        {
            var offset = e * extentBytes;
            if (offset >= size) continue;
            var length = Math.Min(extentBytes, size - offset);
            if (result.Count > 0 && result[^1].Offset + result[^1].Length == offset) result[^1] = (result[^1].Offset, result[^1].Length + length);
            else result.Add((offset, length));
        }
        return result;
    }

    /// <summary>Blocks whose hashes are asked for in one request.</summary>
    public const int HashBatch = 256;

    /// <summary>Bytes of the disk read (the whole disk, or the given ranges rounded out to blocks).</summary>
    public long BytesScanned { get; private set; }
    /// <summary>Payload bytes of the data deltas appended; a zero-range marker carries none.</summary>
    public long BytesSent { get; private set; }
    /// <summary>Blocks appended to the stream: data deltas and zero-range markers.</summary>
    public long BlocksSent { get; private set; }
    /// <summary>Blocks not sent because the replica holds them already (equal hash, or a zero block of a new replica).</summary>
    public long BlocksSkippedEqual { get; private set; }

    public async Task RunAsync(ResyncReason reason, IProgress<double>? progress, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        var total = ranges?.Sum(r => r.Length) ?? export.Size;
        IReadOnlyList<ulong>? hashes = null;
        long hashesFrom = 0;
        try
        {
            // The whole disk, or only the given ranges (a crash's activity log). Blocks are counted from the disk's start,
            // so the replica's hashes line up whichever blocks are read.
            foreach (var (from, length) in ranges ?? [(0L, export.Size)])
            for (var offset = from / blockSize * blockSize; offset < Math.Min(export.Size, from + length); offset += blockSize)
            {
                var n = (int)Math.Min(blockSize, export.Size - offset);
                if (replicaHashes is not null && (hashes is null || offset < hashesFrom || offset >= hashesFrom + (long)HashBatch * blockSize))
                {
                    hashesFrom = offset;
                    hashes = await replicaHashes(offset, HashBatch).ConfigureAwait(false);
                }
                var known = hashes is not null && (offset - hashesFrom) / blockSize < hashes.Count
                    ? hashes[(int)((offset - hashesFrom) / blockSize)] : (ulong?)null;
                await export.Stream.WaitForRoomAsync(n, ct).ConfigureAwait(false);
                await export.WriteLock.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    var block = buffer.AsSpan(0, n);
                    var read = RandomAccess.Read(export.Handle, block, offset);
                    if (read < n) block[read..].Clear();
                    if (known is { } replicaHash && System.IO.Hashing.XxHash3.HashToUInt64(block) == replicaHash)
                    {
                        // Equal at the replica as of the resync's starting point: nothing to send.
                        BlocksSkippedEqual++;
                    }
                    else if (block.IndexOfAnyExcept((byte)0) < 0)
                    {
                        if (reason != ResyncReason.InitialReplication)
                        {
                            export.Stream.Append(DeltaKind.Zero, offset, n, ReadOnlyMemory<byte>.Empty);
                            BlocksSent++;
                        }
                        else BlocksSkippedEqual++; // a new replica is all zeroes: equal already
                    }
                    else
                    {
                        export.Stream.AppendWrite(offset, buffer.AsMemory(0, n));
                        BytesSent += n;
                        BlocksSent++;
                    }
                }
                finally { export.WriteLock.Release(); }
                BytesScanned += n;
                export.ScanProgress(BytesScanned, total);
                progress?.Report((double)BytesScanned / Math.Max(1, total));
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }
}

/// <summary>
/// What one finished resync did, for the agent's log and its <c>--json</c> line. <see cref="BytesSent"/> counts the payload
/// of data deltas only; zero-range markers count in <see cref="BlocksSent"/> with no bytes.
/// </summary>
public sealed record ResyncSummary(string Disk, ResyncReason Reason, long BytesScanned, long BytesSent, long BlocksSent, long BlocksEqual, long SizeBytes, double Seconds)
{
    /// <summary>The machine-readable line: <c>{"event":"resync-complete","disk":…,"reason":"Reprotect",…}</c>.</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(new
    {
        @event = "resync-complete",
        disk = Disk,
        reason = Reason.ToString(),
        bytesScanned = BytesScanned,
        bytesSent = BytesSent,
        blocksSent = BlocksSent,
        blocksEqual = BlocksEqual,
        sizeBytes = SizeBytes,
        seconds = Math.Round(Seconds, 3),
    });
}

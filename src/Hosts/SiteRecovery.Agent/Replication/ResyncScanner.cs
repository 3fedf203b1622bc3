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
public sealed class ResyncScanner(ReplicatedExport export, int blockSize, Func<long, int, Task<IReadOnlyList<ulong>?>>? replicaHashes = null)
{
    /// <summary>Blocks whose hashes are asked for in one request.</summary>
    public const int HashBatch = 256;

    public long BytesScanned { get; private set; }
    public long BytesSent { get; private set; }
    public long BlocksSkippedEqual { get; private set; }

    public async Task RunAsync(ResyncReason reason, IProgress<double>? progress, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        IReadOnlyList<ulong>? hashes = null;
        long hashesFrom = 0;
        try
        {
            for (long offset = 0; offset < export.Size; offset += blockSize)
            {
                var n = (int)Math.Min(blockSize, export.Size - offset);
                if (replicaHashes is not null && (hashes is null || offset >= hashesFrom + (long)HashBatch * blockSize))
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
                            export.Stream.Append(DeltaKind.Zero, offset, n, ReadOnlyMemory<byte>.Empty);
                    }
                    else
                    {
                        export.Stream.AppendWrite(offset, buffer.AsMemory(0, n));
                        BytesSent += n;
                    }
                }
                finally { export.WriteLock.Release(); }
                BytesScanned += n;
                progress?.Report((double)BytesScanned / export.Size);
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }
}

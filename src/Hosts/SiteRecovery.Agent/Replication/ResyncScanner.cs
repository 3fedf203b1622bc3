using System.Buffers;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// Reads the source disk block by block and appends each block to the stream. Each block is read
/// under the disk's write lock and numbered in the same critical section, so a write that lands
/// later always gets a later sequence and the replica converges to the source. For a new replica
/// (all zeroes) a zero block is equal already and is skipped; otherwise it travels as a zero-range
/// marker, never as data.
/// </summary>
public sealed class ResyncScanner(ReplicatedExport export, int blockSize)
{
    public long BytesScanned { get; private set; }
    public long BytesSent { get; private set; }

    public async Task RunAsync(ResyncReason reason, IProgress<double>? progress, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        try
        {
            for (long offset = 0; offset < export.Size; offset += blockSize)
            {
                var n = (int)Math.Min(blockSize, export.Size - offset);
                await export.Stream.WaitForRoomAsync(n, ct).ConfigureAwait(false);
                await export.WriteLock.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    var block = buffer.AsSpan(0, n);
                    var read = RandomAccess.Read(export.Handle, block, offset);
                    if (read < n) block[read..].Clear();
                    if (block.IndexOfAnyExcept((byte)0) < 0)
                    {
                        if (reason != ResyncReason.InitialReplication)
                            export.Stream.Append(DeltaKind.Zero, offset, n, ReadOnlyMemory<byte>.Empty);
                    }
                    else
                    {
                        export.Stream.Append(DeltaKind.Write, offset, n, buffer.AsMemory(0, n));
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

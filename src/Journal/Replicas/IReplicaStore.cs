namespace SiteRecovery.Journal.Replicas;

/// <summary>
/// The replica of one protected disk: a byte-addressable store of fixed <see cref="Size"/>. Implementations refuse
/// any access outside 0..Size with <see cref="ArgumentOutOfRangeException"/>, and guarantee a single writer
/// (fencing) so two master targets can never interleave writes to the same replica.
/// </summary>
public interface IReplicaStore : IAsyncDisposable
{
    /// <summary>The protected disk this replica mirrors.</summary>
    string DiskId { get; }

    /// <summary>Size of the disk in bytes; every offset/length must stay within it.</summary>
    long Size { get; }

    /// <summary>
    /// True when the store was not created empty but adopted a disk's existing content (the original disk, kept as the
    /// replica of a reprotect): the retention's base then starts from that content, not from zeroes.
    /// </summary>
    bool Adopted => false;

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>. Not durable until <see cref="FlushAsync"/>.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>Makes <paramref name="length"/> bytes at <paramref name="offset"/> read as zeroes (zero or trim deltas).</summary>
    ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>Fills <paramref name="buffer"/> entirely with the bytes at <paramref name="offset"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes every completed write and zero durable; when it returns they survive a crash. May run while further writes
    /// go on (the master target flushes in the background): it covers at least those completed before it was called.
    /// </summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);
}

using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Tests.Support;

/// <summary>
/// The real replica stores with EIO injected on demand: while <see cref="FailWrites"/> is set, every replica write
/// (and zeroing) throws as the kernel's EIO would surface, and nothing reaches the replica. Cleared, they are the real stores again.
/// </summary>
public sealed class FaultyReplicaStores(IReplicaStoreFactory real) : IReplicaStoreFactory
{
    volatile bool _failWrites;
    int _failed;

    public bool FailWrites { get => _failWrites; set => _failWrites = value; }
    public int Failed => Volatile.Read(ref _failed);

    public async ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default)
        => new Store(this, await real.OpenAsync(diskId, size, cancellationToken));

    public ValueTask<bool> ExistsAsync(string diskId, CancellationToken cancellationToken = default) => real.ExistsAsync(diskId, cancellationToken);

    void Check()
    {
        if (!_failWrites) return;
        Interlocked.Increment(ref _failed);
        throw new IOException("Input/output error (EIO injected into a replica write)");
    }

    sealed class Store(FaultyReplicaStores faults, IReplicaStore inner) : IReplicaStore
    {
        public string DiskId => inner.DiskId;
        public long Size => inner.Size;

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            faults.Check();
            return inner.WriteAsync(offset, data, cancellationToken);
        }

        public ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken = default)
        {
            faults.Check();
            return inner.ZeroAsync(offset, length, cancellationToken);
        }

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(offset, buffer, cancellationToken);
        public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

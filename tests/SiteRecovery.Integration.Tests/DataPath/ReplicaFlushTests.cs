using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Segments;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>The master target's replica fsync runs beside the writer: commits do not wait for it, and the redo checkpoint it moves only goes forward.</summary>
public sealed class ReplicaFlushTests : IDisposable
{
    const long Size = 1 << 20;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-replica-flush-" + Guid.NewGuid().ToString("n")[..8]);
    readonly DeltaCompression _compression = new();

    public void Dispose()
    {
        _compression.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A local replica whose fsync waits for the test to let it go.</summary>
    sealed class HeldFlushStore(IReplicaStore inner) : IReplicaStore
    {
        public readonly SemaphoreSlim Release = new(0);
        public readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Hold { get; set; }
        public string DiskId => inner.DiskId;
        public long Size => inner.Size;
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default) => inner.WriteAsync(offset, data, ct);
        public ValueTask ZeroAsync(long offset, long length, CancellationToken ct = default) => inner.ZeroAsync(offset, length, ct);
        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(offset, buffer, ct);
        public async ValueTask FlushAsync(CancellationToken ct = default)
        {
            if (Hold)
            {
                Started.TrySetResult();
                await Release.WaitAsync(TimeSpan.FromSeconds(30), ct);
            }
            await inner.FlushAsync(ct);
        }
        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    sealed class Factory(string dir) : IReplicaStoreFactory
    {
        public HeldFlushStore? Store { get; private set; }
        public async ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken ct = default) =>
            Store = new HeldFlushStore(await new LocalFileReplicaStoreFactory(dir, "mt-test").OpenAsync(diskId, size, ct));
        public ValueTask<bool> ExistsAsync(string diskId, CancellationToken ct = default) => new LocalFileReplicaStoreFactory(dir, "mt-test").ExistsAsync(diskId, ct);
    }

    async Task Append(ReplicaDisk disk, long sequence, byte fill)
    {
        var payload = Enumerable.Repeat(fill, 4096).ToArray();
        var delta = Delta.Create("d1", sequence, DeltaKind.Write, (sequence % 200) * 4096, 4096, payload, 1_700_000_000_000 + sequence);
        await disk.AppendAsync(delta, _compression.EncodeStored(delta, compress: false), default);
    }

    /// <summary>The redo checkpoint on disk; empty until the first background flush has written it.</summary>
    string Checkpoint => File.Exists(Path.Combine(_dir, "disk", "replica.checkpoint")) ? File.ReadAllText(Path.Combine(_dir, "disk", "replica.checkpoint")).Trim() : "";

    [Fact]
    public async Task A_commit_does_not_wait_for_the_replica_fsync_and_the_checkpoint_moves_only_when_it_is_done()
    {
        var factory = new Factory(Path.Combine(_dir, "replicas"));
        var disk = await ReplicaDisk.OpenAsync(Path.Combine(_dir, "disk"), "d1", Size, factory, _compression, new SegmentLogOptions(), TimeSpan.Zero, default);
        await Append(disk, 1, 1);
        Assert.Equal(1, await disk.CommitAsync(default));           // nothing held yet: the first flush runs through
        var store = factory.Store!;
        await disk.ReplicaFlush.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("1", Checkpoint);

        store.Hold = true;
        await Append(disk, 2, 2);
        var commit = disk.CommitAsync(default).AsTask();
        await store.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(commit.IsCompleted, "the commit waited for the replica's fsync");
        Assert.Equal(2, await commit);
        // The writer goes on while the fsync is held; the journal is durable, the checkpoint is not moved yet.
        await Append(disk, 3, 3);
        Assert.Equal(3, await disk.CommitAsync(default));
        Assert.Equal("1", Checkpoint);

        store.Release.Release();
        await disk.ReplicaFlush.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("2", Checkpoint); // what the held flush covered, no more
        store.Hold = false;
        await disk.DisposeAsync();
        Assert.Equal("3", Checkpoint);

        // Reopened: the replica holds every write, whatever the checkpoint said.
        var again = await ReplicaDisk.OpenAsync(Path.Combine(_dir, "disk"), "d1", Size, new LocalFileReplicaStoreFactory(Path.Combine(_dir, "replicas"), "mt-test"), _compression, new SegmentLogOptions(), TimeSpan.Zero, default);
        var block = new byte[4096];
        foreach (var (seq, fill) in new[] { (1L, (byte)1), (2L, (byte)2), (3L, (byte)3) })
        {
            await again.Replica.ReadAsync(seq * 4096, block);
            Assert.All(block, b => Assert.Equal(fill, b));
        }
        await again.DisposeAsync();
    }

    [Fact]
    public async Task Many_commits_with_flushes_finishing_in_any_order_never_move_the_checkpoint_back()
    {
        var factory = new Factory(Path.Combine(_dir, "replicas"));
        var disk = await ReplicaDisk.OpenAsync(Path.Combine(_dir, "disk"), "d1", Size, factory, _compression, new SegmentLogOptions(), TimeSpan.Zero, default);
        var seen = new List<long>();
        using var stop = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try { if (Checkpoint is { Length: > 0 } c) seen.Add(long.Parse(c)); } catch (IOException) { }
                await Task.Delay(1);
            }
        });
        for (long s = 1; s <= 300; s++)
        {
            await Append(disk, s, (byte)s);
            await disk.CommitAsync(default);
            // A flush from the maintenance path too, racing the background one.
            if (s % 50 == 0) await disk.MaintainRetentionAsync(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), default);
        }
        await disk.DisposeAsync();
        await stop.CancelAsync();
        await watcher;
        Assert.Equal("300", Checkpoint);
        for (var i = 1; i < seen.Count; i++) Assert.True(seen[i] >= seen[i - 1], $"checkpoint went back from {seen[i - 1]} to {seen[i]}");
    }
}

using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Segments;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A disk the master target has recorded whose replica is gone (a deleted file; a deleted blob or container on Azure):
/// opening it would make a new, blank replica, and the redo from its checkpoint would bring back only the writes after
/// it, so every point read from the replica would lie. The open is refused by name and creates nothing.
/// </summary>
public sealed class MissingReplicaTests : IDisposable
{
    const long Size = 1 << 20;
    readonly string _dir = Directory.CreateTempSubdirectory("sr-missing-replica-").FullName;
    readonly DeltaCompression _compression = new();

    public void Dispose()
    {
        _compression.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    Task<ReplicaDisk> OpenAsync(LocalFileReplicaStoreFactory stores) =>
        ReplicaDisk.OpenAsync(Path.Combine(_dir, "disk"), "d1", Size, stores, _compression, new SegmentLogOptions(), TimeSpan.Zero, default);

    [Fact]
    public async Task A_recorded_disk_whose_replica_was_deleted_is_refused_by_name_and_no_blank_replica_is_made()
    {
        var stores = new LocalFileReplicaStoreFactory(Path.Combine(_dir, "replicas"), "mt-test");
        var disk = await OpenAsync(stores);
        for (long s = 1; s <= 3; s++)
        {
            var delta = Delta.Create("d1", s, DeltaKind.Write, s * 4096, 4096, Enumerable.Repeat((byte)s, 4096).ToArray(), 1_700_000_000_000 + s);
            await disk.AppendAsync(delta, _compression.EncodeStored(delta, compress: false), default);
        }
        Assert.Equal(3, await disk.CommitAsync(default));
        await disk.DisposeAsync();

        var replica = stores.PathFor("d1");
        File.Delete(replica);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OpenAsync(stores));
        Assert.Contains("disk d1: its replica is missing", e.Message);
        Assert.Contains("nothing is created", e.Message);
        Assert.False(File.Exists(replica), "the refused open made a blank replica");

        // Put back, the disk opens as it was.
        await using (var restored = await stores.OpenAsync("d1", Size)) await restored.WriteAsync(4096, Enumerable.Repeat((byte)1, 4096).ToArray());
        var again = await OpenAsync(stores);
        Assert.Equal(3, again.DurableThrough);
        await again.DisposeAsync();
    }
}

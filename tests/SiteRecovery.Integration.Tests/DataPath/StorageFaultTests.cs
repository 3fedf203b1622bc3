using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A storage fault under a hop stops the disk there with a named reason (reported to the control plane), nothing
/// past it is acknowledged, the agent keeps the writes, and replication resumes by itself once the storage takes
/// writes again: then a recovery equals the source byte for byte. EIO comes from a fault-injecting layer under the
/// real segment files; ENOSPC from a real, small, loop-mounted ext4 that fills up mid-workload.
/// </summary>
public sealed class StorageFaultTests
{
    const long Size = 32L << 20;

    /// <summary>Writes 64 KiB blocks of distinct patterns all over the disk through NBD (qemu-io, a real client).</summary>
    static Task WriteAsync(Site site, int count, int seed) => ExternalTool.RunOkAsync("qemu-io",
        $"-f raw {site.NbdUri("disk1")} " + string.Join(" ", Enumerable.Range(0, count).Select(i => $"-c \"write -P {(seed + i) % 250 + 1} {((seed + i) * 97 % 500) * 64}k 64k\"")),
        TimeSpan.FromMinutes(2));

    static async Task Until(Func<bool> condition, string what, Site site, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                lock (site.Log) throw new TimeoutException($"waited {seconds} s for {what}\n" + string.Join("\n", site.Log.TakeLast(30)));
            await Task.Delay(50);
        }
    }

    static async Task AssertRecoversToSourceAsync(Site site, string name)
    {
        await site.CatchUpAsync(TimeSpan.FromSeconds(90));
        var bm = await site.Target.BookmarkAsync(name, ["disk1"], TimeSpan.FromSeconds(30), default);
        Assert.Null(bm.Error);
        var output = Path.Combine(site.Root, name + ".img");
        await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], output, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
    }

    [Theory]
    [InlineData(false, DiskStopReason.SpoolWriteFailed)]
    [InlineData(true, DiskStopReason.SpoolFsyncFailed)]
    public async Task Spool_EIO_stops_the_disk_with_its_reason_acknowledges_nothing_past_it_and_resumes_by_itself(bool fsync, DiskStopReason reason)
    {
        var io = new FaultyFileIo();
        var events = new RecordingEvents();
        await using var site = await Site.StartAsync("spool-eio", 1, Size, configure: s =>
        {
            s.Events = events;
            s.ConfigureProcess = o => o with { Spool = o.Spool with { FileIo = io }, StorageRetryMax = TimeSpan.FromMilliseconds(500) };
        });
        await WriteAsync(site, 40, 0);
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        var before = site.Target.Disks["disk1"].AppliedThrough;

        if (fsync) io.FailFsyncs = true; else io.FailWrites = true;
        await WriteAsync(site, 120, 1000); // the agent acknowledges NBD writes from its buffer: the workload finishes
        var export = site.Agent.Exports[0];
        await Until(() => events.Stops.Contains(("disk1", reason)), $"the stop of disk1 ({reason}) to be reported", site);
        lock (site.Log) Assert.Contains(site.Log, l => l.Contains("disk disk1: replication stopped after #") && l.Contains(reason.ToString()));
        // Nothing past the fault is acknowledged: the agent still holds the writes, the master target has none of them.
        await Task.Delay(1000);
        Assert.True(export.Stream.AckedThrough < export.Stream.LastSequence, $"the agent was acknowledged through #{export.Stream.AckedThrough} of #{export.Stream.LastSequence}");
        Assert.True(site.Target.Disks["disk1"].AppliedThrough <= export.Stream.AckedThrough,
            $"the master target holds #{site.Target.Disks["disk1"].AppliedThrough}, past what the agent was acknowledged (#{export.Stream.AckedThrough})");
        Assert.True(site.Target.Disks["disk1"].AppliedThrough >= before);

        io.FailWrites = io.FailFsyncs = false;
        await Until(() => events.Stops.Contains(("disk1", null)), "the resume of disk1 to be reported", site);
        await AssertRecoversToSourceAsync(site, "after-eio");
        Assert.True(io.Failed > 0);
    }

    [SkippableFact]
    public async Task Spool_ENOSPC_on_a_full_filesystem_stops_the_disk_and_resumes_once_space_is_freed_nothing_lost()
    {
        var scratch = Tools.TempDirectory("spool-enospc");
        var (mount, refusal) = await LoopMount.TryCreateAsync(scratch, 96L << 20);
        Skip.If(mount is null, $"skipped: {refusal}");
        try
        {
            var events = new RecordingEvents();
            await using (var site = await Site.StartAsync("spool-enospc", 1, Size, configure: s =>
            {
                s.Events = events;
                s.ConfigureProcess = o => o with { CacheDirectory = Path.Combine(mount!.Path, "cache"), StorageRetryMax = TimeSpan.FromMilliseconds(500) };
            }))
            {
                await WriteAsync(site, 20, 0);
                await site.CatchUpAsync(TimeSpan.FromSeconds(60));
                // A few MiB left: the spool's active segment grows into the end of the filesystem mid-workload.
                mount!.FillLeaving(3L << 20);
                await WriteAsync(site, 300, 7000);
                await Until(() => events.Stops.Any(s => s.Disk == "disk1" && s.Stopped is not null), "the stop of disk1 to be reported", site);
                var export = site.Agent.Exports[0];
                Assert.True(export.Stream.AckedThrough < export.Stream.LastSequence || export.Dirty.Count > 0, "nothing waited for the spool");
                lock (site.Log) Assert.Contains(site.Log, l => l.Contains("disk disk1: replication stopped after #") && l.Contains("No space left on device"));

                mount.Free();
                await Until(() => events.Stops.LastOrDefault() == ("disk1", null), "the resume of disk1 to be reported", site);
                await AssertRecoversToSourceAsync(site, "after-enospc");
            }
        }
        finally
        {
            await mount!.DisposeAsync();
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData(false, DiskStopReason.JournalWriteFailed)]
    [InlineData(true, DiskStopReason.JournalFsyncFailed)]
    public async Task Journal_EIO_stops_the_disk_at_the_master_target_acknowledges_nothing_past_it_and_resumes_by_itself(bool fsync, DiskStopReason reason)
    {
        var io = new FaultyFileIo();
        var events = new RecordingEvents();
        await using var site = await Site.StartAsync("journal-eio", 1, Size, configure: s =>
        {
            s.Events = events;
            s.ConfigureTarget = o => o with { Journal = o.Journal with { FileIo = io } };
        });
        await WriteAsync(site, 40, 0);
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));

        if (fsync) io.FailFsyncs = true; else io.FailWrites = true;
        await WriteAsync(site, 120, 1000);
        await Until(() => events.Stops.Contains(("disk1", reason)), $"the stop of disk1 ({reason}) to be reported", site);
        await Task.Delay(1000);
        var durable = site.Target.Disks["disk1"].AppliedThrough;
        var ps = site.Process.Disks["disk1"];
        Assert.True(ps.TargetAcked <= durable, $"the process server was acknowledged through #{ps.TargetAcked}, past the journal's durable #{durable}");
        Assert.True(ps.Durable > durable, $"the process server's spool (#{ps.Durable}) does not hold what the master target lacks (#{durable})");
        lock (site.Log) Assert.Contains(site.Log, l => l.Contains("disk disk1: replication stopped after #") && l.Contains(reason.ToString()));

        io.FailWrites = io.FailFsyncs = false;
        await Until(() => events.Stops.Contains(("disk1", null)), "the resume of disk1 to be reported", site);
        await AssertRecoversToSourceAsync(site, "after-journal-eio");
    }

    [Fact]
    public async Task Replica_EIO_after_the_journal_append_stops_the_disk_and_the_replica_never_misses_a_record()
    {
        FaultyReplicaStores? stores = null;
        var events = new RecordingEvents();
        await using var site = await Site.StartAsync("replica-eio", 1, Size, configure: s =>
        {
            s.Events = events;
            s.WrapReplicas = real => stores = new FaultyReplicaStores(real);
        });
        await WriteAsync(site, 40, 0);
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));

        stores!.FailWrites = true;
        await WriteAsync(site, 120, 1000);
        await Until(() => events.Stops.Contains(("disk1", DiskStopReason.ReplicaWriteFailed)), "the stop of disk1 (ReplicaWriteFailed) to be reported", site);
        await Task.Delay(1000);
        var ps = site.Process.Disks["disk1"];
        Assert.True(ps.TargetAcked <= site.Target.Disks["disk1"].AppliedThrough);
        Assert.True(ps.Durable > ps.TargetAcked, "the process server was acknowledged for records the replica does not have");

        stores.FailWrites = false;
        await Until(() => events.Stops.Contains(("disk1", null)), "the resume of disk1 to be reported", site);
        await AssertRecoversToSourceAsync(site, "after-replica-eio");
        // The replica itself (the latest state failover uses) has every record, the one that failed included.
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(Path.Combine(site.Root, "mt", "replicas", "disk1.img")));
    }

    [SkippableFact]
    public async Task Master_target_ENOSPC_on_a_full_filesystem_stops_the_disk_and_resumes_once_space_is_freed_nothing_lost()
    {
        var scratch = Tools.TempDirectory("mt-enospc");
        var (mount, refusal) = await LoopMount.TryCreateAsync(scratch, 160L << 20);
        Skip.If(mount is null, $"skipped: {refusal}");
        try
        {
            var events = new RecordingEvents();
            await using (var site = await Site.StartAsync("mt-enospc", 1, Size, configure: s =>
            {
                s.Events = events;
                s.ConfigureTarget = o => o with { DataDirectory = Path.Combine(mount!.Path, "mt") };
            }))
            {
                await WriteAsync(site, 20, 0);
                await site.CatchUpAsync(TimeSpan.FromSeconds(60));
                // A few MiB left: the journal and the replica grow into the end of the filesystem mid-workload.
                mount!.FillLeaving(3L << 20);
                await WriteAsync(site, 300, 7000);
                await Until(() => events.Stops.Any(s => s.Disk == "disk1" && s.Stopped is not null), "the stop of disk1 to be reported", site);
                lock (site.Log) Assert.Contains(site.Log, l => l.Contains("disk disk1: replication stopped after #") && l.Contains("No space left on device"));
                var ps = site.Process.Disks["disk1"];
                Assert.True(ps.TargetAcked <= site.Target.Disks["disk1"].AppliedThrough);

                mount.Free();
                await Until(() => events.Stops.LastOrDefault() == ("disk1", null), "the resume of disk1 to be reported", site);
                await AssertRecoversToSourceAsync(site, "after-mt-enospc");
            }
        }
        finally
        {
            await mount!.DisposeAsync();
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { }
        }
    }
}

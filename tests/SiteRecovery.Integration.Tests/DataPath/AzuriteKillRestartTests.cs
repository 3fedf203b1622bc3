using System.Collections.Concurrent;
using Akka.Configuration;
using Azure.Storage.Blobs;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node;
using SiteRecovery.Tests.Support;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// The storage service itself crashes mid-replication: an Azurite process of this test's own (port and data directory of
/// its own; the setup's shared one is never touched) is killed with SIGKILL while an agent writes through NBD and the
/// master target keeps its replica as a page blob there, then started again on the same port and data directory.
/// Replication stops by name while it is down (the process server keeps spooling), resumes by itself once it is back,
/// and a point taken after the restart recovers byte for byte; the blob converges to the source. Unlike
/// <see cref="AzureReplicaEndToEndTests"/> (a proxy answering 503 in front of a live Azurite), connections are refused,
/// in-flight requests die with the process, and the service comes back from its own disk with its leases.
/// </summary>
public sealed class AzuriteKillRestartTests
{
    const long Size = 16L << 20;

    /// <summary>Stops and resumes with the detail the master target reported, in order.</summary>
    sealed class Events : IDataPathEvents
    {
        public readonly ConcurrentQueue<(string Disk, DiskStopReason? Reason, string Detail)> Stops = new();
        public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath) { }
        public Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs) => Task.FromResult(true);
        public void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied) { }
        public void Resync(ResyncNotice notice) { }
        public void ReplicationStopped(string diskId, DiskStopReason reason, long stoppedAfter, string detail) => Stops.Enqueue((diskId, reason, detail));
        public void ReplicationResumed(string diskId) => Stops.Enqueue((diskId, null, ""));
    }

    const long UniqueBase = 12L << 20, UniqueSlot = 64 << 10;
    const int MaxRounds = 60;

    /// <summary>
    /// One round of the workload, every write carrying the round's own pattern: 6 MiB from 0 (coalesced uploads), an
    /// overwrite inside it at an offset that moves per round (a reordered write shows), a zeroed range, an unaligned
    /// write, all in the first 12 MiB that every round covers again; and a slot of the round's own above 12 MiB that no
    /// other round writes, so a round lost anywhere shows in the end.
    /// </summary>
    static string Round(int k) =>
        $"-c \"write -P {k % 200 + 1} 0 6M\" -c \"write -P {(k + 100) % 250 + 1} {1024 + k * 4} 300k\" -c \"write -z 7M 512k\" " +
        $"-c \"write -P {(k + 50) % 250 + 1} {10 * 1024 * 1024 + 513} 70k\" -c \"write -P {k % 250 + 1} {UniqueBase + k * UniqueSlot} {UniqueSlot}\"";

    [Fact]
    public async Task Azurite_killed_mid_replication_and_restarted_replication_resumes_by_itself_losing_nothing()
    {
        var root = Tools.TempDirectory("azurite-kill");
        await using var azurite = await AzuriteEmulator.StartOwnAsync(Path.Combine(root, "azurite-data"));
        var container = AzuriteEmulator.NewContainer("kill");
        var accountFile = AzuriteEmulator.WriteAccountFile(root, azurite.Port);
        // Short retries, so a dead service stops the disk within seconds; the shortest lease Azure allows, so the reopen
        // after the restart waits at most that long for the lease the killed session could not release.
        var config = ConfigurationFactory.ParseString(
                $"siterecovery.data-path.master-target {{ replica-store = azure-page-blob, azure-page-blob {{ connection-file = \"{accountFile}\", container = {container}, " +
                "lease-duration = 15s, lease-renew-interval = 5s, retry { max-retries = 2, delay = 100ms, max-delay = 200ms, network-timeout = 5s } } }")
            .WithFallback(DataPathSettings.Load(null));
        var events = new Events();
        try
        {
            await using var site = await Site.StartAsync("azurite-kill", 1, Size, configure: s =>
            {
                s.Events = events;
                s.WrapReplicas = _ => ReplicaStores.Create(config, Path.Combine(s.Root, "mt"), "mt-1", new Dictionary<string, string>());
            });
            var uri = site.NbdUri("disk1");
            await ExternalTool.RunOkAsync("qemu-io", $"-f raw {uri} {Round(0)}", TimeSpan.FromMinutes(2));
            await site.CatchUpAsync(TimeSpan.FromSeconds(60));
            // Azurite saves which pages and blobs it holds every 5 s: the blob and its lease must be on its disk before the kill.
            await Task.Delay(TimeSpan.FromSeconds(6));

            var rounds = 0;
            using var stopWorkload = new CancellationTokenSource();
            var workload = Task.Run(async () =>
            {
                while (!stopWorkload.IsCancellationRequested && rounds + 1 < MaxRounds)
                {
                    await ExternalTool.RunOkAsync("qemu-io", $"-f raw {uri} {Round(rounds + 1)}", TimeSpan.FromMinutes(2));
                    rounds++;
                }
            });

            await Until(() => rounds >= 2 || workload.IsCompleted, "two rounds of the workload", site);
            var killedPid = azurite.Pid;
            await azurite.Kill9Async();
            var roundsAtKill = rounds;
            await Until(() => events.Stops.Any(s => s.Reason == DiskStopReason.ReplicaWriteFailed) || workload.IsCompleted, "the stop of disk1 (ReplicaWriteFailed)", site);
            Assert.False(workload.IsFaulted, $"the workload failed: {workload.Exception}");
            var stop = events.Stops.First(s => s.Reason is not null);
            Assert.Equal(("disk1", DiskStopReason.ReplicaWriteFailed), (stop.Disk, stop.Reason));
            Assert.Contains("Unavailable", stop.Detail);
            lock (site.Log) Assert.Contains(site.Log, l => l.Contains("disk disk1: replication stopped after #") && l.Contains("Unavailable"));

            // While the service is down the agent goes on writing; the process server keeps it (nothing is acknowledged
            // through the master target past the stop).
            await Until(() => rounds >= roundsAtKill + 2 || workload.IsCompleted, "two rounds of the workload while Azurite is down", site);
            Assert.DoesNotContain(events.Stops, s => s.Reason is null);
            Assert.True(site.Process.Disks["disk1"].TargetAcked < site.Process.Disks["disk1"].Durable,
                "the writes made while Azurite was down were acknowledged through the master target");

            await azurite.RestartAsync();
            Assert.NotEqual(killedPid, azurite.Pid);
            await Until(() => events.Stops.LastOrDefault() is ("disk1", null, _) || workload.IsCompleted, "the resume of disk1", site, seconds: 90);
            var roundsAtResume = rounds;
            await Until(() => rounds >= roundsAtResume + 2 || workload.IsCompleted, "two rounds of the workload after the resume", site);
            await stopWorkload.CancelAsync();
            await workload;

            await site.CatchUpAsync(TimeSpan.FromSeconds(90));
            var bm = await site.Target.BookmarkAsync("after-restart", ["disk1"], TimeSpan.FromSeconds(30), default);
            Assert.Null(bm.Error);
            var atBookmark = Tools.Sha256(site.DiskPaths[0]);
            var recovered = Path.Combine(site.Root, "after-restart.img");
            await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], recovered, null, default);
            Assert.Equal(atBookmark, Tools.Sha256(recovered));
            // One stop and one resume: the disk's state said what happened, and nothing else happened to it.
            Assert.Equal([DiskStopReason.ReplicaWriteFailed, null], events.Stops.Where(s => s.Disk == "disk1").Select(s => s.Reason).ToArray());

            // The replica blob in the restarted Azurite converges to the source where the service's own crash cannot have
            // taken anything: the first 12 MiB (every later round rewrote it) and the slots of the rounds after the resume.
            // Azurite saves its page maps only every 5 s, so pages it acknowledged just before the kill may be gone from
            // it (real Azure commits before it answers); the recovered image above is the witness that nothing was lost.
            var blobs = new BlobServiceClient(AzuriteEmulator.ConnectionString(azurite.Port)).GetBlobContainerClient(container);
            var source = await File.ReadAllBytesAsync(site.DiskPaths[0]);
            var ranges = new List<(long Offset, long Length)> { (0, UniqueBase) };
            for (var k = roundsAtResume + 1; k <= rounds; k++) ranges.Add((UniqueBase + k * UniqueSlot, UniqueSlot));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                var blob = (await blobs.GetBlobClient("disk1.vhd").DownloadContentAsync()).Value.Content.ToArray();
                Assert.Equal(Size + 512, blob.Length);
                var differing = ranges.Where(r => !blob.AsSpan((int)r.Offset, (int)r.Length).SequenceEqual(source.AsSpan((int)r.Offset, (int)r.Length))).ToList();
                if (differing.Count == 0) break;
                Assert.True(DateTime.UtcNow < deadline, $"the page blob differs from the source at {string.Join(", ", differing.Select(r => $"{r.Offset}+{r.Length}"))} (waited 30 s for the replica flush)");
                await Task.Delay(250);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

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
}

using System.Collections.Concurrent;
using System.Net;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Retention;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// The master target ages points and resolves times by its own clock (injected here), whatever the agent stamped: records
/// arrive one a minute by the master target's clock with agent stamps a day behind, a day ahead, or right; the master
/// target's retention pass rolls the window, and its clock-skew check raises and clears the alert.
/// </summary>
public sealed class AgentClockTests : IDisposable
{
    const long Size = 1 << 20;
    const long T0 = 1_700_000_000_000;
    static readonly long Minute = 60_000;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-agent-clock-" + Guid.NewGuid().ToString("n")[..8]);
    readonly DeltaCompression _compression = new();
    long _now = T0;

    public void Dispose()
    {
        _compression.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    sealed class SkewEvents : IDataPathEvents
    {
        public readonly ConcurrentQueue<(string Disk, long SkewMs, long BoundMs, bool Exceeded)> Skews = new();
        public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath) { }
        public Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs) => Task.FromResult(true);
        public void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied) { }
        public void Resync(ResyncNotice notice) { }
        public void AgentClockSkew(string diskId, long skewMs, long boundMs, bool exceeded) => Skews.Enqueue((diskId, skewMs, boundMs, exceeded));
    }

    async Task<(MasterTargetServer Target, ReplicaDisk Disk)> StartAsync(SkewEvents events)
    {
        var mt = Path.Combine(_dir, "mt");
        Directory.CreateDirectory(Path.Combine(mt, "disks", "d1"));
        await File.WriteAllTextAsync(Path.Combine(mt, "disks", "d1", "disk.json"), $"{{\"DiskId\":\"d1\",\"SizeBytes\":{Size}}}");
        // A recorded disk has its replica (a master target refuses one whose replica is gone).
        await (await new LocalFileReplicaStoreFactory(Path.Combine(mt, "replicas"), "mt-1").OpenAsync("d1", Size)).DisposeAsync();
        var target = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), mt)
        {
            Clock = () => Interlocked.Read(ref _now),
            Retention = new RetentionOptions { Window = TimeSpan.FromMinutes(10), ReceiveTimeSampleInterval = TimeSpan.Zero },
            RetentionCheckInterval = TimeSpan.FromMilliseconds(50),
            ReplicaFlushInterval = TimeSpan.Zero,
            ClockSkewAlert = TimeSpan.FromMinutes(5),
            ClockSkewPeriod = TimeSpan.FromMinutes(1),
        }, new LocalFileReplicaStoreFactory(Path.Combine(mt, "replicas"), "mt-1"), events, _ => { });
        await target.StartAsync();
        return (target, await target.GetDiskAsync("d1"));
    }

    /// <summary>Record <paramref name="seq"/> arrives at the master target at <paramref name="at"/> (its clock), stamped by the agent at at + shift.</summary>
    async Task ReceiveAsync(ReplicaDisk disk, long seq, long at, long agentShiftMs)
    {
        Interlocked.Exchange(ref _now, at);
        var payload = Enumerable.Repeat((byte)seq, 4096).ToArray();
        var delta = Delta.Create("d1", seq, DeltaKind.Write, (seq % 200) * 4096, 4096, payload, at + agentShiftMs);
        await disk.Gate.WaitAsync();
        try
        {
            await disk.AppendAsync(delta, _compression.EncodeStored(delta, compress: false), default);
            await disk.CommitAsync(default);
        }
        finally { disk.Gate.Release(); }
    }

    static async Task Until(Func<Task<bool>> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    [Theory]
    [InlineData(-86_400_000L)]
    [InlineData(86_400_000L)]
    [InlineData(0L)]
    public async Task Points_age_and_times_resolve_by_the_master_targets_clock(long agentShiftMs)
    {
        var events = new SkewEvents();
        var (target, disk) = await StartAsync(events);
        await using var _ = target;
        for (long s = 1; s <= 20; s++) await ReceiveAsync(disk, s, T0 + s * Minute, agentShiftMs);
        Interlocked.Exchange(ref _now, T0 + 20 * Minute + 30_000);
        // The window keeps what was received in the last 10 minutes (by the master target's clock): #11..#20, base at #10.
        await Until(async () => (await target.RetentionWindowAsync("d1")).OldestSequence >= 10, "the window did not roll to #10");
        await Task.Delay(300); // a few more passes: it must not roll further
        var w = await target.RetentionWindowAsync("d1");
        Assert.True(w.OldestSequence == 10, $"agent clock {agentShiftMs:+0;-0} ms: the window starts at #{w.OldestSequence}, want #10 (received 10.5 minutes ago)");
        Assert.Equal((T0 + 10 * Minute, T0 + 20 * Minute), (w.OldestTimeUnixMs, w.NewestTimeUnixMs));
        Assert.Equal((T0 + 10 * Minute + agentShiftMs, T0 + 20 * Minute + agentShiftMs), (w.OldestAgentTimeUnixMs, w.NewestAgentTimeUnixMs));

        var resolved = await target.ResolveTimeAsync("d1", DateTimeOffset.FromUnixTimeMilliseconds(T0 + 15 * Minute + 30_000));
        Assert.True(resolved.Sequence == 15, $"agent clock {agentShiftMs} ms: the time resolved to #{resolved.Sequence}, want #15");
        Assert.Equal(T0 + 15 * Minute, resolved.ReceivedUnixMs);
        Assert.Equal(T0 + 15 * Minute + agentShiftMs, resolved.AgentTimeUnixMs);
    }

    [Theory]
    [InlineData(-86_400_000L)]
    [InlineData(86_400_000L)]
    public async Task A_skewed_agent_clock_raises_the_alert_and_a_corrected_one_clears_it(long agentShiftMs)
    {
        var events = new SkewEvents();
        var (target, disk) = await StartAsync(events);
        await using var _ = target;
        for (long s = 1; s <= 3; s++) await ReceiveAsync(disk, s, T0 + s * 1000, agentShiftMs);
        await Until(() => Task.FromResult(events.Skews.Any(e => e.Exceeded)), "no clock-skew alert was raised");
        var raised = events.Skews.Single(e => e.Exceeded);
        Assert.Equal(("d1", agentShiftMs, 5 * Minute), (raised.Disk, raised.SkewMs, raised.BoundMs));

        // The agent's clock is corrected; once the skewed commits are older than the period, the alert clears.
        for (long s = 4; s <= 6; s++) await ReceiveAsync(disk, s, T0 + 2 * Minute + s * 1000, 200);
        await Until(() => Task.FromResult(events.Skews.Count(e => !e.Exceeded) == 1 && !events.Skews.Last().Exceeded), "the clock-skew alert was not cleared");
        Assert.Equal(200, events.Skews.Last().SkewMs);
        Assert.Equal(2, events.Skews.Count);
    }
}

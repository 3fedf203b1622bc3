using System.Net;
using System.Net.Sockets;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Consistency;

/// <summary>Group bookmarks through a real master target, process server and agents in this process.</summary>
public sealed class GroupBookmarkTests
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_committed_group_bookmark_is_recorded_on_every_disk_at_the_held_cut_and_recovers_the_sources(bool inProcess)
    {
        await using var site = await GroupSite.StartAsync("group-commit", agents: 2, disksPerAgent: 2, inProcess: inProcess);
        for (var i = 0; i < 8; i++)
        {
            await site.Disk(1, 1).WriteAsync(i * 8192, (byte)(i + 1));
            await site.Disk(1, 2).WriteAsync(i * 8192, (byte)(i + 11));
            await site.Disk(2, 1).WriteAsync(i * 8192, (byte)(i + 21));
            await site.Disk(2, 2).WriteAsync(i * 8192, (byte)(i + 31));
        }
        var r = await site.BookmarkAsync("gb-1", ["vm1", "vm2"]);
        Assert.True(r.Outcome == GroupBookmarkOutcome.Committed, $"{r.AbortReason}: {r.AbortDetail}\n{site.Logs()}");
        Assert.Equal(RecoveryPointKind.CrashConsistent, r.Kind);
        // Nothing writes now: the sources are the state at the cut.
        var sources = site.Agents.SelectMany(a => a.Exports).ToDictionary(e => e.Name, e => Tools.Sha256(e.Path));

        var points = site.Recorded.ToList();
        Assert.Equal(["vm1-d1", "vm1-d2", "vm2-d1", "vm2-d2"], points.Select(p => p.DiskId).Order().ToList());
        Assert.All(points, p => Assert.Equal(("gb-1", r.TimeUnixMs, RecoveryPointKind.CrashConsistent, (string?)null), (p.BookmarkId, p.TimeUnixMs, p.Kind, p.AppConsistencyFailure)));
        foreach (var p in points)
        {
            Assert.Equal(r.Held[p.DiskId] + 1, p.Sequence);
            var output = Path.Combine(site.Root, p.DiskId + ".at-gb-1.img");
            await site.Target.RecoverAsync(p.DiskId, p.Sequence, output, null, default);
            Assert.True(sources[p.DiskId] == Tools.Sha256(output), $"{p.DiskId}: recovered image differs from the source at the cut");
        }
        Assert.Empty(site.Reported); // the master target never records a group marker by itself
        Assert.True(r.StallMs > 0);
        Assert.Equal(["vm1", "vm2"], r.AgentHeldMs.Keys.Order().ToList());
        Assert.All(site.Agents, a => Assert.Equal(0, a.Client!.Holds.ActiveCount));

        // Writes go on after the bookmark, numbered right after the markers.
        await site.Disk(2, 1).WriteAsync(0, 0x77);
        Assert.Equal(r.Sequences["vm2-d1"] + 1, site.Disk(2, 1).LastSequence);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_agent_that_never_answers_the_hold_aborts_the_bookmark_releases_every_hold_and_records_no_point(bool inProcess)
    {
        await using var site = await GroupSite.StartAsync("group-silent", agents: 1, disksPerAgent: 2, inProcess: inProcess);
        using var silent = await SilentAgent.ConnectAsync(site.Process.BoundEndpoint!, "mute", "mute-d1");
        await site.WaitConnectedAsync(3, Long);
        await site.Disk(1, 1).WriteAsync(0, 1);
        var before = site.Disk(1, 1).LastSequence;

        var r = await site.BookmarkAsync("gb-silent", ["vm1", "mute"], timeoutMs: 1500);

        Assert.Equal(GroupBookmarkOutcome.Aborted, r.Outcome);
        Assert.Equal(GroupAbortReason.HoldTimedOut, r.AbortReason);
        Assert.Contains("mute", r.AbortDetail);
        Assert.True(silent.HoldsSeen > 0, "the silent agent never even received the hold");
        Assert.Equal(0, site.Agents[0].Client!.Holds.ActiveCount);
        Assert.Empty(site.Recorded);
        Assert.Empty(site.Reported);
        // No marker on the agent that did hold: its next write follows the last one directly.
        await site.Disk(1, 1).WriteAsync(4096, 2).WaitAsync(Long);
        Assert.Equal(before + 1, site.Disk(1, 1).LastSequence);
    }

    [Fact]
    public async Task A_group_marker_committed_on_one_agent_only_is_never_recorded_as_a_point()
    {
        await using var site = await GroupSite.StartAsync("group-partial", agents: 2, disksPerAgent: 1);
        var path = (IGroupBookmarkPath)site.Target;
        var wait = path.GroupMarkerDurableAsync("vm1-d1", "half");
        var h1 = (Held)await path.AskAgentAsync(new HoldRequest("r1", "h-half", "half", ["vm1-d1"], false, 20_000), Long, default);
        var h2 = (Held)await path.AskAgentAsync(new HoldRequest("r2", "h-half", "half", ["vm2-d1"], false, 20_000), Long, default);
        Assert.Null(h1.Error);
        Assert.Null(h2.Error);
        var c1 = (HoldEnded)await path.AskAgentAsync(new CommitHold("r3", "h-half", "half", ["vm1-d1"]), Long, default);
        Assert.True(c1.Marked);
        Assert.Equal(h1.Sequences["vm1-d1"] + 1, c1.Sequences["vm1-d1"]);
        await wait.WaitAsync(Long); // durable at the target, but only the coordinator could make it a point
        path.ForgetGroupMarkers("half", ["vm1-d1"]);
        var a2 = (HoldEnded)await path.AskAgentAsync(new AbortHold("r4", "h-half", "vm1 only", ["vm2-d1"]), Long, default);
        Assert.False(a2.Marked);

        // A marker durable after its bookmark was abandoned is logged, not recorded.
        var h3 = (Held)await path.AskAgentAsync(new HoldRequest("r5", "h-late", "late", ["vm1-d1"], false, 20_000), Long, default);
        Assert.Null(h3.Error);
        await path.AskAgentAsync(new CommitHold("r6", "h-late", "late", ["vm1-d1"]), Long, default);
        for (var i = 0; i < 600 && !site.Log.Any(l => l.Contains("group marker late", StringComparison.Ordinal)); i++) await Task.Delay(50);
        Assert.Contains(site.Log, l => l.Contains("group marker late", StringComparison.Ordinal) && l.Contains("not a recovery point", StringComparison.Ordinal));
        Assert.Empty(site.Reported);
        Assert.Empty(site.Recorded);
    }

    // A single-machine point whose marker comes before the group's goes out at once, so the disk's points arrive in
    // sequence order. (One whose marker comes after
    // the group's waits until the group is recorded: MarkerOrderTests.)
    [Fact]
    public async Task A_single_machine_point_before_a_waiting_group_marker_is_recorded_at_once_in_sequence_order()
    {
        await using var site = await GroupSite.StartAsync("group-held-back", agents: 1, disksPerAgent: 1);
        var path = site.AgentPath;
        await site.Disk(1, 1).WriteAsync(0, 1);
        var wait = path.GroupMarkerDurableAsync("vm1-d1", "g");
        var single = await site.Target.BookmarkAsync("single", ["vm1-d1"], Long, default);
        Assert.Null(single.Error);
        var held = (Held)await path.AskAgentAsync(new HoldRequest("r1", "h-g", "g", ["vm1-d1"], false, 20_000), Long, default);
        Assert.Null(held.Error);
        var committed = (HoldEnded)await path.AskAgentAsync(new CommitHold("r2", "h-g", "g", ["vm1-d1"]), Long, default);
        Assert.True(committed.Marked, committed.Error);
        // The group's marker follows the single one in the stream: once it is durable, so is the single one.
        Assert.Equal(committed.Sequences["vm1-d1"], await wait.WaitAsync(Long));
        Assert.True(single.Sequences["vm1-d1"] < committed.Sequences["vm1-d1"]);
        Assert.Contains(site.Reported, p => p.Bookmark == "single" && p.Sequence == single.Sequences["vm1-d1"]);

        path.ForgetGroupMarkers("g", ["vm1-d1"]); // what the coordinator does after recording the group's points
        Assert.Single(site.Reported, p => p.Bookmark == "single");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_agent_that_loses_its_connection_mid_hold_releases_its_writes(bool inProcess)
    {
        await using var site = await GroupSite.StartAsync("group-disconnect", agents: 1, disksPerAgent: 1, inProcess: inProcess);
        var path = site.AgentPath;
        var held = (Held)await path.AskAgentAsync(new HoldRequest("r1", "h-cut", "cut", ["vm1-d1"], false, 120_000), Long, default);
        Assert.Null(held.Error);
        Assert.Equal(1, site.Agents[0].Client!.Holds.ActiveCount);
        var write = site.Disk(1, 1).WriteAsync(0, 9);
        await Task.Delay(200);
        Assert.False(write.IsCompleted, "a write completed while its disk was held");

        await site.StopProcessServerAsync(); // the process server goes away: the coordinator can no longer reach the agent
        await write.WaitAsync(Long);       // long before the two-minute lease
        Assert.Equal(0, site.Agents[0].Client!.Holds.ActiveCount);
        Assert.Equal(held.Sequences["vm1-d1"] + 1, site.Disk(1, 1).LastSequence); // released without a marker
    }

    [Fact]
    public async Task An_app_consistent_request_on_agents_without_a_freeze_hook_records_a_flagged_crash_consistent_point()
    {
        await using var site = await GroupSite.StartAsync("group-app", agents: 2, disksPerAgent: 1);
        await site.Disk(1, 1).WriteAsync(0, 5);
        var r = await site.BookmarkAsync("gb-app", ["vm1", "vm2"], app: true);
        Assert.True(r.Outcome == GroupBookmarkOutcome.Committed, $"{r.AbortReason}: {r.AbortDetail}");
        Assert.Equal(RecoveryPointKind.CrashConsistent, r.Kind);
        Assert.Contains("no application freeze hook", r.AppConsistencyFailure);
        Assert.Equal(2, site.Recorded.Count);
        Assert.All(site.Recorded, p =>
        {
            Assert.Equal(RecoveryPointKind.CrashConsistent, p.Kind);
            Assert.Contains("vm1", p.AppConsistencyFailure);
            Assert.Contains("vm2", p.AppConsistencyFailure);
        });
    }

    /// <summary>
    /// A real peer on the agent protocol that offers a disk and then never answers anything sent to it
    /// (a hung agent): the process server keeps its connection, so only the coordinator's timeout helps.
    /// </summary>
    sealed class SilentAgent : IDisposable
    {
        readonly Socket _socket;
        readonly CancellationTokenSource _stop = new();
        int _holds;
        SilentAgent(Socket s) => _socket = s;
        public int HoldsSeen => Volatile.Read(ref _holds);

        public static async Task<SilentAgent> ConnectAsync(IPEndPoint ps, string agentId, string disk)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(ps);
            var net = new NetworkStream(s, ownsSocket: false);
            await FrameIo.WriteAsync(net, FrameType.Control, SiteRecovery.TestSupport.TestWriters.Sign(new Hello(agentId, [new DiskOffer(disk, 1 << 20, agentId)])).ToBytes(), default);
            var reply = await FrameIo.ReadAsync(net, default);
            Assert.IsType<Resume>(ControlMessage.Parse(reply!.Value.Body));
            var agent = new SilentAgent(s);
            _ = Task.Run(async () =>
            {
                try
                {
                    while (await FrameIo.ReadAsync(net, agent._stop.Token) is { } f)
                        if (ControlMessage.Parse(f.Body) is HoldRequest) Interlocked.Increment(ref agent._holds);
                }
                catch (Exception) { }
            });
            return agent;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _socket.Dispose();
        }
    }
}

using SiteRecovery.Contracts.Control;
using System.Collections.Concurrent;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Consistency;

/// <summary>The agent's side of a group bookmark, on real exports (files and streams), without the network.</summary>
public sealed class GroupHoldsTests : IDisposable
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    readonly string _root = Tools.TempDirectory("group-holds");
    readonly List<ReplicatedExport> _exports = [];
    readonly ConcurrentQueue<string> _log = new();
    readonly ConcurrentQueue<string> _order = new();

    ReplicatedExport Export(string name)
    {
        var path = Path.Combine(_root, name + ".img");
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength(1 << 20);
        var e = new ReplicatedExport(name, path, new DiskStream(name, 1 << 20, 16 << 20));
        e.MarkReady();
        _exports.Add(e);
        return e;
    }

    GroupHolds Holds(IApplicationFreezer? freezer, params ReplicatedExport[] disks)
        => new("vm1", disks.ToDictionary(d => d.Name), freezer, _log.Enqueue);

    static Task Write(ReplicatedExport e, long offset) => e.WriteAsync(offset, new byte[4096], false, CancellationToken.None).AsTask();

    static HoldRequest Hold(string id, bool app, int leaseMs, params string[] disks) => new("r-" + id, id, "bm-" + id, disks, app, leaseMs);

    [Fact]
    public async Task A_hold_stops_writes_and_the_commit_puts_the_marker_right_after_the_held_sequence()
    {
        var a = Export("a");
        var b = Export("b");
        var holds = Holds(null, a, b);
        await Write(a, 0);
        await Write(b, 0);
        var held = await holds.HoldAsync(Hold("h1", false, 60_000, "b", "a"));
        Assert.Null(held.Error);
        Assert.Equal(1, held.Sequences["a"]);
        var pending = Write(a, 8192);
        await Task.Delay(200);
        Assert.False(pending.IsCompleted, "a write completed on a held disk");

        var ended = holds.Commit(new CommitHold("r2", "h1", "bm-h1", ["a", "b"]));
        Assert.True(ended.Marked, ended.Error);
        Assert.Null(ended.Error);
        Assert.Equal(new Dictionary<string, long> { ["a"] = 2, ["b"] = 2 }, ended.Sequences);
        await pending.WaitAsync(Long);
        Assert.Equal(3, a.Stream.LastSequence); // the held write comes after the marker
        var marker = a.Stream.TakeUnsent(1 << 20).Single(d => d.Kind == DeltaKind.Bookmark);
        Assert.Equal(GroupMarker.For("bm-h1"), marker.BookmarkId);
        Assert.Equal(0, holds.ActiveCount);
    }

    [Fact]
    public async Task A_hold_whose_coordinator_goes_silent_releases_on_its_own_when_the_lease_expires_without_a_marker()
    {
        var a = Export("a");
        var holds = Holds(null, a);
        var held = await holds.HoldAsync(Hold("h1", false, 1000, "a"));
        Assert.Null(held.Error);
        var pending = Write(a, 0);
        await pending.WaitAsync(Long); // no commit, no abort, no disconnect: only the lease ends it
        Assert.Equal(0, holds.ActiveCount);
        Assert.Equal(1, a.Stream.LastSequence);
        Assert.DoesNotContain(a.Stream.TakeUnsent(1 << 20), d => d.Kind == DeltaKind.Bookmark);
        var late = holds.Commit(new CommitHold("r2", "h1", "bm-h1", ["a"]));
        Assert.False(late.Marked);
        Assert.Contains("already ended", late.Error);
        Assert.Contains(_log, l => l.Contains("lease", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_hold_that_arrives_after_its_abort_is_refused_and_holds_nothing()
    {
        var a = Export("a");
        var holds = Holds(null, a);
        var aborted = holds.Abort(new AbortHold("r0", "h1", "another agent refused", ["a"]));
        Assert.False(aborted.Marked);
        var held = await holds.HoldAsync(Hold("h1", false, 60_000, "a"));
        Assert.NotNull(held.Error);
        Assert.Equal(0, holds.ActiveCount);
        await Write(a, 0).WaitAsync(Long);
    }

    [Fact]
    public async Task A_disk_still_resending_regions_is_refused_as_retryable_and_other_refusals_are_not()
    {
        var a = Export("a");
        var holds = Holds(null, a);
        a.Dirty.Mark(0, 4096);
        var dirty = await holds.HoldAsync(Hold("h1", false, 60_000, "a"));
        Assert.StartsWith(RetryableRefusal.LegacyPrefix, dirty.Error);
        Assert.True(dirty.Retryable);
        Assert.Equal(0, holds.ActiveCount);
        Assert.False(holds.TryHoldAtOnce(Hold("h0", false, 60_000, "z"))!.Retryable); // no such disk: retrying will not help
    }

    [Fact]
    public async Task Only_one_hold_at_a_time_and_a_single_machine_bookmark_is_refused_meanwhile()
    {
        var a = Export("a");
        var holds = Holds(null, a);
        Assert.Null((await holds.HoldAsync(Hold("h1", false, 60_000, "a"))).Error);
        Assert.False(holds.TryEnterSingle());
        var second = await holds.HoldAsync(Hold("h2", false, 300, "a"));
        Assert.Contains("another bookmark", second.Error);
        holds.Abort(new AbortHold("r", "h1", "done", ["a"]));
        Assert.True(holds.TryEnterSingle());
        holds.ExitSingle();
    }

    [Fact]
    public async Task A_crash_consistent_hold_is_taken_at_once_on_the_callers_thread_only_when_nothing_must_be_waited_for()
    {
        var a = Export("a");
        var holds = Holds(null, a);
        await Write(a, 0);
        Assert.Contains("no disk(s) z", holds.TryHoldAtOnce(Hold("h0", false, 60_000, "z"))!.Error); // refusals come at once
        Assert.Null(holds.TryHoldAtOnce(Hold("h-app", true, 60_000, "a"))); // a freeze first: not on the caller's thread
        Assert.Equal(0, holds.ActiveCount);

        var held = holds.TryHoldAtOnce(Hold("h1", false, 60_000, "a"));
        Assert.NotNull(held);
        Assert.Null(held.Error);
        Assert.Equal(1, held.Sequences["a"]);
        var pending = Write(a, 8192);
        Assert.Null(holds.TryHoldAtOnce(Hold("h2", false, 60_000, "a"))); // another hold in force: the caller must not wait for it
        await Task.Delay(200);
        Assert.False(pending.IsCompleted, "a write completed on a held disk");
        var ended = holds.Commit(new CommitHold("r2", "h1", "bm-h1", ["a"]));
        Assert.True(ended.Marked, ended.Error);
        Assert.Equal(2, ended.Sequences["a"]);
        await pending.WaitAsync(Long);
        Assert.Equal(3, a.Stream.LastSequence);
        Assert.Equal(0, holds.ActiveCount);

        holds.Abort(new AbortHold("r3", "h3", "aborted before it came", ["a"]));
        Assert.Contains("already taken or ended", holds.TryHoldAtOnce(Hold("h3", false, 60_000, "a"))!.Error);
    }

    [Fact]
    public async Task The_freeze_runs_before_the_locks_and_the_thaw_after_the_marker()
    {
        var a = Export("a");
        var freezer = new OrderFreezer(_order, a, HookResult.Success);
        var holds = Holds(freezer, a);
        var held = await holds.HoldAsync(Hold("h1", true, 60_000, "a"));
        Assert.Null(held.Error);
        Assert.Null(held.FreezeFailure);
        Assert.Null(held.FreezeFailureKind);
        Assert.True(holds.Commit(new CommitHold("r2", "h1", "bm-h1", ["a"])).Marked);
        await freezer.Thawed.Task.WaitAsync(Long);
        Assert.Equal(["freeze (disk free)", "thaw (marker at #1)"], _order.ToList());
    }

    [Theory]
    [InlineData(HookOutcome.Failed)]
    [InlineData(HookOutcome.TimedOut)]
    [InlineData(HookOutcome.Missing)]
    public async Task A_freeze_that_does_not_succeed_still_holds_reports_why_and_thaws_after_an_abort(HookOutcome outcome)
    {
        var a = Export("a");
        var freezer = new OrderFreezer(_order, a, new HookResult(outcome, "fsfreeze /data"));
        var holds = Holds(freezer, a);
        var held = await holds.HoldAsync(Hold("h1", true, 60_000, "a"));
        Assert.Null(held.Error);
        Assert.Contains(outcome.ToString(), held.FreezeFailure);
        Assert.Contains("fsfreeze /data", held.FreezeFailure);
        Assert.Equal(outcome switch
        {
            HookOutcome.TimedOut => AppConsistencyFailure.HookTimedOut,
            HookOutcome.Missing => AppConsistencyFailure.HookMissing,
            _ => AppConsistencyFailure.HookFailed,
        }, held.FreezeFailureKind);
        Assert.Equal(1, holds.ActiveCount);
        holds.Abort(new AbortHold("r2", "h1", "test", ["a"]));
        await freezer.Thawed.Task.WaitAsync(Long);
        Assert.Equal(0, holds.ActiveCount);
    }

    [Fact]
    public async Task A_freeze_that_hangs_past_the_lease_holds_nothing_and_is_thawed()
    {
        var a = Export("a");
        var freezer = new OrderFreezer(_order, a, HookResult.Success) { Hang = true };
        var holds = Holds(freezer, a);
        var held = await holds.HoldAsync(Hold("h1", true, 300, "a"));
        Assert.NotNull(held.Error);
        Assert.Equal(0, holds.ActiveCount);
        await freezer.Thawed.Task.WaitAsync(Long);
        await Write(a, 0).WaitAsync(Long);
    }

    /// <summary>
    /// Stands in for the real freezer (fsfreeze, scripts, VSS — another component) only to observe the order of
    /// freeze, locks, marker and thaw, and to give each outcome a freeze can have.
    /// </summary>
    sealed class OrderFreezer(ConcurrentQueue<string> order, ReplicatedExport disk, HookResult freeze) : IApplicationFreezer
    {
        public bool Hang { get; init; }
        public TaskCompletionSource Thawed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Configured => true;

        public async Task<HookResult> FreezeAsync(CancellationToken ct)
        {
            order.Enqueue(disk.WriteLock.CurrentCount == 1 ? "freeze (disk free)" : "freeze (disk locked)");
            if (Hang) await Task.Delay(Timeout.Infinite, ct);
            return freeze;
        }

        public Task<HookResult> ThawAsync(CancellationToken ct)
        {
            var marker = disk.Stream.TakeUnsent(1 << 20).FirstOrDefault(d => d.Kind == DeltaKind.Bookmark);
            order.Enqueue(marker is null ? "thaw (no marker)" : $"thaw (marker at #{marker.Sequence})");
            Thawed.TrySetResult();
            return Task.FromResult(HookResult.Success);
        }
    }

    public void Dispose()
    {
        foreach (var e in _exports) e.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

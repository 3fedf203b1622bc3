using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.MasterTarget;
using SiteRecovery.Actors.Control.ProcessServer;
using SiteRecovery.Actors.Control.ProtectedDisk;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>FsCheck properties straight on the pure Decide/Apply functions.</summary>
public sealed class DecideApplyProperties
{
    private const string Disk = "d1";
    private const string Server = "s1";

    // ---------- generators ----------
    private static readonly Gen<IProtectedDiskCommand> DiskCommand = Gen.Frequency(
        (1, Gen.Elements<IProtectedDiskCommand>(
            new RegisterDisk(Disk, "m1", 1024, "ps1", "mt1"),
            new RegisterDisk(Disk, "m1", 2048, "ps1", "mt1"),
            new RegisterDisk(Disk, "", 1024, "ps1", "mt1"),
            new RegisterDisk(Disk, "m1", 0, "ps1", "mt1"))),
        (4, from at in Gen.Choose(-2, 60)
            from t in Gen.Choose(-1, 10_000)
            from b in Gen.Choose(-1, 4096)
            select (IProtectedDiskCommand)new RecordReplicationProgress(Disk, at, t, b)),
        (4, from id in Gen.Elements("a", "b", "c", "d", "e", "f", "")
            from seq in Gen.Choose(-1, 30)
            from t in Gen.Choose(-1, 10_000)
            from k in Gen.Elements(RecoveryPointKind.CrashConsistent, RecoveryPointKind.AppConsistent, (RecoveryPointKind)7)
            select (IProtectedDiskCommand)new RecordRecoveryPoint(Disk, id, seq, t, k)),
        (1, Gen.Elements(Enum.GetValues<ResyncReason>()).Select(r => (IProtectedDiskCommand)new RequireResync(Disk, r))),
        (1, Gen.Choose(-1, 60).Select(s => (IProtectedDiskCommand)new CompleteResync(Disk, s))),
        (2, Gen.Choose(-1, 40).Select(q => (IProtectedDiskCommand)new ExpireRecoveryPoints(Disk, q))));

    private static readonly Gen<IProcessServerCommand> ProcessServerCommand = Gen.Frequency(
        (1, Gen.Elements<IProcessServerCommand>(
            new RegisterProcessServer(Server, "/cache", 1000, 50),
            new RegisterProcessServer(Server, "/cache", 2000, 50),
            new RegisterProcessServer(Server, "", 1000, 50),
            new RegisterProcessServer(Server, "/cache", 0, 50),
            new RegisterProcessServer(Server, "/cache", 1000, 0))),
        (3, Gen.Elements("d1", "d2", "d3", "d4", "").Select(d => (IProcessServerCommand)new AssignDiskToProcessServer(Server, d))),
        (3, Gen.Choose(-10, 1200).Select(u => (IProcessServerCommand)new ReportCacheUsage(Server, u))));

    private static readonly Gen<IMasterTargetCommand> MasterTargetCommand = Gen.Frequency(
        (1, from slots in Gen.Elements(16, 32, 15, 0, 31)
            from os in Gen.Elements(TargetOs.Windows, TargetOs.Linux)
            select (IMasterTargetCommand)new RegisterMasterTarget(Server, os, slots)),
        (8, from d in Gen.Choose(0, 40)
            from p in Gen.Frequency((9, Gen.Constant(d)), (1, Gen.Choose(0, 40)))
            select (IMasterTargetCommand)new AttachReplica(Server, $"disk{d}", $"/replica/{p}")),
        (2, Gen.Choose(0, 40).Select(d => (IMasterTargetCommand)new DetachReplica(Server, $"disk{d}"))));

    private static Arbitrary<TCommand[]> Sequences<TCommand>(Gen<TCommand> gen) => Gen.ArrayOf(gen).ToArbitrary();

    // ---------- generic checker ----------
    private static string Fingerprint(object state) => JsonSerializer.Serialize(state, state.GetType(), ControlJsonSerializer.Options);

    private static void Check<TState, TCommand, TEvent>(
        TState empty, IEnumerable<TCommand> commands, Action<TState, TState, TCommand> invariant)
        where TState : class, IAggregateState<TState, TCommand, TEvent>
    {
        var state = empty;
        var emitted = new List<TEvent>();
        foreach (var command in commands)
        {
            var decision = state.Decide(command);
            if (decision.Rejection is { } rejected)
            {
                Assert.Empty(decision.Events);
                Assert.False(string.IsNullOrWhiteSpace(rejected.Message), $"rejection of {command} has no message");
                continue;
            }

            var next = decision.Events.Aggregate(state, (s, e) => s.Apply(e));
            invariant(state, next, command);

            // At-least-once delivery: deciding the same command again right away emits nothing.
            var retry = next.Decide(command);
            Assert.True(retry.Events.Count == 0, $"retry of {command} emitted {retry.Events.Count} events");

            emitted.AddRange(decision.Events);
            state = next;
        }

        var replayed = emitted.Aggregate(empty, (s, e) => s.Apply(e));
        Assert.Equal(Fingerprint(state), Fingerprint(replayed));
    }

    // ---------- properties ----------
    [Property(MaxTest = 300)]
    public Property ProtectedDisk_never_reaches_an_invalid_state() =>
        Prop.ForAll(Sequences(DiskCommand), commands =>
            Check<ProtectedDiskState, IProtectedDiskCommand, IProtectedDiskEvent>(
                ProtectedDiskState.Empty(Disk), commands, (before, after, _) =>
                {
                    Assert.True(after.AppliedThrough >= before.AppliedThrough, "applied-through went backwards");
                    Assert.True(after.BytesAppliedTotal >= before.BytesAppliedTotal, "bytes applied went backwards");
                    for (var i = 1; i < after.RecoveryPoints.Count; i++)
                        Assert.True(after.RecoveryPoints[i - 1].Sequence <= after.RecoveryPoints[i].Sequence, "recovery points out of order");
                    Assert.All(after.RecoveryPoints, p => Assert.True(p.Sequence >= 1));
                    Assert.Equal(after.RecoveryPoints.Count, after.RecoveryPoints.Select(p => p.BookmarkId).Distinct().Count());
                    Assert.True(after.Registered, "accepted command left disk unregistered");
                    Assert.Equal(after.State == ReplicationState.Protected, after.ResyncReason is null);
                    Assert.NotNull(after.LastResyncReason);
                    // Retention: nothing older than the window survives, and the window never moves back.
                    Assert.All(after.RecoveryPoints, p => Assert.True(p.Sequence >= after.RetainedFromSequence, "a point older than the window survived"));
                    Assert.True(after.RetainedFromSequence >= before.RetainedFromSequence, "the retention window moved back");
                    if (after.ResyncReason is { } running) Assert.Equal(running, after.LastResyncReason);
                    Assert.True(after.SizeBytes > 0);
                }));

    [Property(MaxTest = 300)]
    public Property Recovery_points_reported_in_any_order_are_all_kept_in_sequence_order() =>
        Prop.ForAll(
            Gen.ArrayOf(Gen.Choose(1, 50)).ToArbitrary(),
            Gen.Choose(0, int.MaxValue).ToArbitrary(),
            (sequences, seed) =>
            {
                // Points reach a disk from the master target, a group's coordinator and the schedules, each in its
                // own order; whatever the arrival order, the catalogue ends up with every point, sorted by sequence.
                var points = sequences.Select((seq, i) => new RecordRecoveryPoint(Disk, $"p{i}", seq, 1000 + i, RecoveryPointKind.CrashConsistent)).ToArray();
                var arrival = points.ToArray();
                new Random(seed).Shuffle(arrival);
                var state = ProtectedDiskState.Empty(Disk).Apply(new DiskRegistered(Disk, "m1", 1024, "ps1", "mt1"));
                foreach (var point in arrival)
                {
                    var decision = state.Decide(point);
                    Assert.Null(decision.Rejection);
                    state = decision.Events.Aggregate(state, (s, e) => s.Apply(e));
                }

                Assert.Equal(points.Select(p => p.BookmarkId).Order(), state.RecoveryPoints.Select(p => p.BookmarkId).Order());
                Assert.Equal(sequences.Select(s => (long)s).Order(), state.RecoveryPoints.Select(p => p.Sequence));
            });

    [Property(MaxTest = 300)]
    public Property Expiring_recovery_points_keeps_every_point_inside_the_window() =>
        Prop.ForAll(
            Gen.ArrayOf(Gen.Choose(1, 1000)).ToArbitrary(),
            Gen.Choose(0, 1100).ToArbitrary(),
            (sequences, oldest) =>
            {
                var state = ProtectedDiskState.Empty(Disk).Apply(new DiskRegistered(Disk, "m1", 1024, "ps1", "mt1"));
                var sorted = sequences.Order().ToArray();
                for (var i = 0; i < sorted.Length; i++)
                    state = state.Decide(new RecordRecoveryPoint(Disk, $"p{i}", sorted[i], 1000 + i, RecoveryPointKind.CrashConsistent))
                        .Events.Aggregate(state, (s, e) => s.Apply(e));
                var after = state.Decide(new ExpireRecoveryPoints(Disk, oldest)).Events.Aggregate(state, (s, e) => s.Apply(e));
                var kept = after.RecoveryPoints.Select(p => p.BookmarkId).ToHashSet();
                for (var i = 0; i < sorted.Length; i++)
                    Assert.Equal(sorted[i] >= oldest, kept.Contains($"p{i}"));
                // A point reported late below the window is refused, not stored.
                if (oldest > 1)
                    Assert.NotNull(after.Decide(new RecordRecoveryPoint(Disk, "late", oldest - 1, 5000, RecoveryPointKind.CrashConsistent)).Rejection);
            });

    [Property(MaxTest = 300)]
    public Property ProcessServer_never_reaches_an_invalid_state() =>
        Prop.ForAll(Sequences(ProcessServerCommand), commands =>
            Check<ProcessServerState, IProcessServerCommand, IProcessServerEvent>(
                ProcessServerState.Empty(Server), commands, (before, after, _) =>
                {
                    Assert.True(after.Registered);
                    Assert.True(after.CacheBytes > 0 && after.ChurnCapacityMBps > 0);
                    Assert.False(string.IsNullOrWhiteSpace(after.CacheDirectory));
                    Assert.InRange(after.CacheUsedBytes, 0, after.CacheBytes);
                    Assert.True(before.AssignedDisks.IsSubsetOf(after.AssignedDisks), "assigned disks lost");
                    Assert.DoesNotContain("", after.AssignedDisks);
                }));

    [Property(MaxTest = 300)]
    public Property MasterTarget_never_exceeds_usable_slots() =>
        Prop.ForAll(Sequences(MasterTargetCommand), commands =>
            Check<MasterTargetState, IMasterTargetCommand, IMasterTargetEvent>(
                MasterTargetState.Empty(Server), commands, (_, after, _) =>
                {
                    Assert.True(after.Registered);
                    Assert.Contains(after.DataDiskSlots, new[] { 16, 32 });
                    Assert.Equal(after.DataDiskSlots - 1, after.UsableSlots);
                    Assert.True(after.Replicas.Count <= after.UsableSlots, $"{after.Replicas.Count} replicas > {after.UsableSlots} usable slots");
                    Assert.Equal(after.Replicas.Count, after.Replicas.Values.Distinct().Count());
                }));

    // ---------- a few pinned examples the generators must also reach ----------
    [Fact]
    public void Unregistered_disk_rejects_everything_but_RegisterDisk()
    {
        var empty = ProtectedDiskState.Empty(Disk);
        IProtectedDiskCommand[] commands =
        [
            new RecordReplicationProgress(Disk, 1, 1, 1),
            new RecordRecoveryPoint(Disk, "a", 1, 1, RecoveryPointKind.CrashConsistent),
            new RequireResync(Disk, ResyncReason.StreamGap),
            new CompleteResync(Disk, 1),
        ];
        foreach (var command in commands)
        {
            var d = empty.Decide(command);
            Assert.Equal(RejectionReason.NotRegistered, d.Rejection?.Reason);
            Assert.Contains("DiskId", d.Rejection!.Message);
        }
    }

    [Fact]
    public void Master_target_with_16_slots_accepts_15_replicas_then_rejects_OutOfSlots()
    {
        var state = MasterTargetState.Empty(Server).Apply(new MasterTargetRegistered(Server, TargetOs.Linux, 16));
        for (var i = 0; i < 15; i++)
        {
            var d = state.Decide(new AttachReplica(Server, $"disk{i}", $"/r/{i}"));
            Assert.False(d.IsRejected, d.Rejection?.Message);
            state = d.Events.Aggregate(state, (s, e) => s.Apply(e));
        }

        var full = state.Decide(new AttachReplica(Server, "disk15", "/r/15"));
        Assert.Equal(RejectionReason.OutOfSlots, full.Rejection?.Reason);
        Assert.Contains("DiskId", full.Rejection!.Message);
    }

    [Fact]
    public void A_late_point_with_a_lower_sequence_is_filed_in_order_and_a_duplicate_bookmark_is_idempotent()
    {
        var state = ProtectedDiskState.Empty(Disk)
            .Apply(new DiskRegistered(Disk, "m", 10, "ps", "mt"))
            .Apply(new RecoveryPointRecorded(Disk, "b1", 5, 100, RecoveryPointKind.AppConsistent));
        var lower = state.Decide(new RecordRecoveryPoint(Disk, "b2", 4, 200, RecoveryPointKind.CrashConsistent));
        Assert.Null(lower.Rejection);
        var filed = lower.Events.Aggregate(state, (s, e) => s.Apply(e));
        Assert.Equal(["b2", "b1"], filed.RecoveryPoints.Select(p => p.BookmarkId));
        var dup = state.Decide(new RecordRecoveryPoint(Disk, "b1", 5, 100, RecoveryPointKind.AppConsistent));
        Assert.False(dup.IsRejected);
        Assert.Empty(dup.Events);
        var zero = state.Decide(new RecordRecoveryPoint(Disk, "b3", 0, 100, RecoveryPointKind.AppConsistent));
        Assert.Equal(RejectionReason.InvalidArgument, zero.Rejection?.Reason);
    }
}

using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control.RecoveryPlan;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>Properties of the pure recovery-plan state: any accepted sequence keeps the invariants of <see cref="RecoveryPlanState"/>.</summary>
public sealed class RecoveryPlanProperties
{
    private const string P = "plan-1";

    private static readonly Gen<string> MachineId = Gen.Frequency(
        (12, Gen.Elements("vm1", "vm2", "vm3", "vm4", "vm5", "vm6")),
        (1, Gen.Elements("", " ", "vm\u0001", new string('m', 129), new string('m', 128))));

    private static readonly Gen<PlanAction> Action = Gen.Frequency(
        (6, from kind in Gen.Elements(PlanAction.Manual, PlanAction.ScriptKind)
            from name in Gen.Elements("a", "b", "c", "d", "e")
            from timeout in Gen.Elements<int?>(null, 1, 300, 3600)
            select kind == PlanAction.Manual
                ? new PlanAction(kind, name, "Check the database", null, timeout)
                : new PlanAction(kind, name, null, "warm-cache.sh", timeout)),
        (1, Gen.Elements(
            new PlanAction("manual", "x", null, null, null),
            new PlanAction("manual", "x", "do it", "s.sh", null),
            new PlanAction("script", "x", null, "../etc/passwd", null),
            new PlanAction("script", "x", null, "..", null),
            new PlanAction("script", "x", null, null, null),
            new PlanAction("shell", "x", "i", null, null),
            new PlanAction("manual", " ", "i", null, null),
            new PlanAction("manual", "x", "i", null, 0),
            new PlanAction("manual", "x", "i", null, 3601))));

    private static readonly Gen<BootGroup> Group =
        from machines in Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(MachineId, n))
        from pre in Gen.Choose(0, 2).SelectMany(n => Gen.ArrayOf(Action, n))
        from post in Gen.Choose(0, 1).SelectMany(n => Gen.ArrayOf(Action, n))
        from nullLists in Gen.Elements(false, false, false, true)
        select new BootGroup(machines, nullLists ? null! : pre, nullLists ? null! : post);

    private static readonly Gen<BootGroup[]> Groups = Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(Group, n));

    private static readonly Gen<IRecoveryPlanCommand> Command = Gen.Frequency(
        (3, from vault in Gen.Elements("vault-a", "vault-b", "1bad")
            from description in Gen.Elements<string?>(null, "tier 1", new string('d', 1025))
            from groups in Groups
            from now in Gen.Choose(1, 1000)
            select (IRecoveryPlanCommand)new CreateRecoveryPlan(P, vault, description, groups, now)),
        (4, from description in Gen.Elements<string?>(null, "tier 2")
            from groups in Groups
            from now in Gen.Choose(1, 1000)
            from expected in Gen.Elements<long?>(null, null, 1, 2, 3)
            select (IRecoveryPlanCommand)new UpdateRecoveryPlan(P, description, groups, now, expected)),
        (1, Gen.Choose(1, 1000).Select(now => (IRecoveryPlanCommand)new DeleteRecoveryPlan(P, now))),
        (2, from every in Gen.Elements<TimeSpan?>(null, TimeSpan.Zero, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1), TimeSpan.FromDays(7), TimeSpan.FromDays(367))
            from ttl in Gen.Elements<TimeSpan?>(null, TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(30), TimeSpan.FromMilliseconds(10_500), TimeSpan.FromDays(8))
            from now in Gen.Choose(1, 1000)
            select (IRecoveryPlanCommand)new SetDrillSchedule(P, every, ttl, now)));

    /// <summary>Valid plans only; the generator of arbitrary commands above rarely produces a valid one on its own.</summary>
    private static readonly Gen<BootGroup[]> ValidGroups =
        from n in Gen.Choose(1, 5)
        from perGroup in Gen.ArrayOf(Gen.Choose(1, 4), n)
        from actions in Gen.ArrayOf(Gen.Choose(0, 2), n)
        select perGroup.Select((count, g) => new BootGroup(
            Enumerable.Range(0, count).Select(m => $"vm-{g}-{m}").ToArray(),
            Enumerable.Range(0, actions[g]).Select(a => new PlanAction(PlanAction.Manual, $"pre-{g}-{a}", "check", null, null)).ToArray(),
            Enumerable.Range(0, actions[g]).Select(a => new PlanAction(PlanAction.ScriptKind, $"post-{g}-{a}", null, $"s{a}.sh", 60)).ToArray())).ToArray();

    private static readonly Gen<IRecoveryPlanCommand> ValidCommand = Gen.Frequency(
        (1, ValidGroups.Select(g => (IRecoveryPlanCommand)new CreateRecoveryPlan(P, "vault-a", null, g, 5))),
        (3, ValidGroups.Select(g => (IRecoveryPlanCommand)new UpdateRecoveryPlan(P, null, g, 7))),
        (1, Gen.Constant((IRecoveryPlanCommand)new DeleteRecoveryPlan(P, 9))),
        (1, Gen.Elements<TimeSpan?>(null, TimeSpan.FromHours(1), TimeSpan.FromDays(7))
            .Select(every => (IRecoveryPlanCommand)new SetDrillSchedule(P, every, every is null ? null : TimeSpan.FromMinutes(20), 11))));

    private static void Invariant(RecoveryPlanState before, RecoveryPlanState after, IRecoveryPlanCommand command)
    {
        // Version: one step per persisted event, never back.
        Assert.True(after.Version >= before.Version, $"version went back {before.Version} -> {after.Version}");
        if (after != before) Assert.Equal(before.Version + 1, after.Version);
        // The drill schedule: both null or both set, within the rules (the default minimum of 1 hour).
        Assert.Equal(after.DrillEvery is null, after.DrillTtl is null);
        if (after.DrillEvery is { } every)
        {
            Assert.InRange(every, SetDrillSchedule.DefaultMinimumEvery, SetDrillSchedule.MaximumEvery);
            Assert.InRange(after.DrillTtl!.Value, TimeSpan.FromSeconds(10), TimeSpan.FromDays(7));
        }
        if (command is not SetDrillSchedule && after.Exists) Assert.Equal((before.DrillEvery, before.DrillTtl), (after.DrillEvery, after.DrillTtl));
        if (!after.Exists)
        {
            Assert.Null(after.DrillEvery);
            Assert.Empty(after.Groups);
            return;
        }

        Assert.True(after.Version > 0);
        Assert.NotEmpty(after.Groups);
        Assert.Empty(RecoveryPlanValidation.ValidateGroups(after.Groups, ""));
        var machines = after.Groups.SelectMany(g => g.Machines).ToList();
        Assert.Equal(machines.Count, machines.Distinct(StringComparer.Ordinal).Count());
        var actions = after.Groups.SelectMany(g => g.Pre.Concat(g.Post)).ToList();
        Assert.Equal(actions.Count, actions.Select(a => a.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(actions, a => Assert.InRange(a.TimeoutSeconds ?? -1, 1, 3600));
        Assert.All(after.Groups, g => Assert.NotEmpty(g.Machines));

        // Groups keep the order they were given in.
        IReadOnlyList<BootGroup>? given = command switch
        {
            CreateRecoveryPlan c when !before.Exists => c.Groups,
            UpdateRecoveryPlan c => c.Groups,
            _ => null,
        };
        if (given is not null)
            Assert.Equal(given.Select(g => string.Join(",", g.Machines)), after.Groups.Select(g => string.Join(",", g.Machines)));
    }

    private static void Run(IRecoveryPlanCommand[] commands)
    {
        // A rejected command changes nothing: the state it was decided on is the same afterwards, and no events come out.
        var state = RecoveryPlanState.Empty(P);
        foreach (var c in commands)
        {
            var before = Checker.Fingerprint(state);
            var d = state.Decide(c);
            Assert.Equal(before, Checker.Fingerprint(state));
            if (d.IsRejected) Assert.Empty(d.Events);
            else state = d.Events.Aggregate(state, (s, e) => s.Apply(e));
        }

        Checker.Run<RecoveryPlanState, IRecoveryPlanCommand, IRecoveryPlanEvent>(RecoveryPlanState.Empty(P), commands, Invariant);
    }

    [Property(MaxTest = 300)]
    public Property Any_command_sequence_keeps_the_invariants_and_replays_to_the_same_state() =>
        Prop.ForAll(Gen.ArrayOf(Command).ToArbitrary(), commands => Run(commands));

    [Property(MaxTest = 200)]
    public Property Valid_command_sequences_keep_the_invariants_and_replay_to_the_same_state() =>
        Prop.ForAll(Gen.ArrayOf(ValidCommand).ToArbitrary(), commands =>
        {
            Run(commands);
            // Valid commands are never rejected except by the plan's own life cycle.
            var state = RecoveryPlanState.Empty(P);
            foreach (var c in commands)
            {
                var d = state.Decide(c);
                if (d.Rejection is { } r)
                    Assert.True(r.Reason is RejectionReason.NotRegistered or RejectionReason.Conflict, $"{c}: {r.Message}");
                else state = d.Events.Aggregate(state, (s, e) => s.Apply(e));
            }
        });

    [Property(MaxTest = 200)]
    public Property A_rejected_command_persists_nothing_from_any_reachable_state() =>
        Prop.ForAll(Gen.ArrayOf(ValidCommand).ToArbitrary(), Command.ToArbitrary(), (prefix, probe) =>
        {
            var state = prefix.Aggregate(RecoveryPlanState.Empty(P), (s, c) => s.Decide(c).Events.Aggregate(s, (x, e) => x.Apply(e)));
            var d = state.Decide(probe);
            if (d.IsRejected)
            {
                Assert.Empty(d.Events);
                Assert.False(string.IsNullOrWhiteSpace(d.Rejection!.Message));
            }
        });
}

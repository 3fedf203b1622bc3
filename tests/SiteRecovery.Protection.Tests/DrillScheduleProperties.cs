using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>Properties of the pure <see cref="DrillSchedule"/>: when each plan is due a drill.</summary>
public sealed class DrillScheduleProperties
{
    private const long T0 = 1_700_000_000_000;
    private static readonly string[] PlanIds = ["p1", "p2", "p3"];
    private static readonly TimeSpan Minimum = TimeSpan.FromMinutes(10);

    private static FailoverJobStarted Started(string plan, long at, FailoverKind kind = FailoverKind.Test) =>
        new($"job-{plan}-{at}", plan, 1, kind, new FailoverPointChoice("latest"), [], ["vm1"], at, kind == FailoverKind.Test ? 60 : null);

    /// <summary>Any mix of schedule changes, deletions and failover starts of three plans, in time order.</summary>
    private static readonly Gen<object[]> History =
        Gen.ArrayOf(
            from plan in Gen.Elements(PlanIds)
            from minutes in Gen.Choose(1, 600)
            from kind in Gen.Choose(0, 9)
            from every in Gen.Elements<int?>(null, 5, 10, 60, 240)
            select (Minutes: minutes, Make: Event(plan, kind, every)))
        .Select(items =>
        {
            var at = T0;
            return items.Select(x => { at += x.Minutes * 60_000L; return x.Make(at); }).ToArray();
        });

    private static Func<long, object> Event(string plan, int kind, int? every) => kind switch
    {
        < 3 => at => new RecoveryPlanDrillScheduleSet(plan, every is { } e ? TimeSpan.FromMinutes(e) : null, every is null ? null : TimeSpan.FromMinutes(30), at),
        3 => at => new RecoveryPlanDeleted(plan, at),
        4 => at => Started(plan, at, FailoverKind.Planned),
        _ => at => Started(plan, at),
    };

    private static DrillSchedule Build(IEnumerable<object> events) => events.Aggregate(DrillSchedule.Empty, (s, e) => s.Apply(e));

    private static TimeSpan Interval(DrillPlan p) => p.Every!.Value > Minimum ? p.Every.Value : Minimum;

    [Property(MaxTest = 300)]
    public Property A_plan_without_a_schedule_is_never_due() =>
        Prop.ForAll(History.ToArbitrary(), Gen.Choose(0, 100_000).ToArbitrary(), (events, later) =>
        {
            var schedule = Build(events);
            var now = T0 + later * 60_000L * 10;
            var due = schedule.Due(now, Minimum).Select(d => d.PlanId).ToHashSet();
            // The model: the last schedule event of the plan (set with null, or a deletion) leaves it without a schedule.
            foreach (var plan in PlanIds)
            {
                var last = events.LastOrDefault(e => e is RecoveryPlanDrillScheduleSet s && s.PlanId == plan || e is RecoveryPlanDeleted d && d.PlanId == plan);
                var scheduled = last is RecoveryPlanDrillScheduleSet { DrillEvery: not null };
                if (!scheduled) Assert.DoesNotContain(plan, due);
            }
        });

    [Property(MaxTest = 300)]
    public Property A_scheduled_plan_is_due_exactly_once_its_interval_passed_since_its_last_drill_start() =>
        Prop.ForAll(History.ToArbitrary(), Gen.Choose(0, 2_000).ToArbitrary(), (events, minutesLater) =>
        {
            var schedule = Build(events);
            var end = events.Length == 0 ? T0 : events.Max(At);
            var now = end + minutesLater * 60_000L;
            var due = schedule.Due(now, Minimum).Select(d => d.PlanId).ToHashSet();
            foreach (var plan in PlanIds)
            {
                var last = events.LastOrDefault(e => e is RecoveryPlanDrillScheduleSet s && s.PlanId == plan || e is RecoveryPlanDeleted d && d.PlanId == plan);
                if (last is not RecoveryPlanDrillScheduleSet { DrillEvery: { } every } set) continue;
                var interval = every > Minimum ? every : Minimum;
                var lastDrill = events.OfType<FailoverJobStarted>().Where(s => s.PlanId == plan && s.Kind == FailoverKind.Test).Select(s => (long?)s.RequestedUnixMs).Max();
                var since = lastDrill ?? set.AtUnixMs;
                var expected = now - since >= (long)interval.TotalMilliseconds;
                Assert.True(expected == due.Contains(plan),
                    $"plan {plan}: every {every}, since {since - T0} ms, now {now - T0} ms: want due={expected}, got due={due.Contains(plan)}");
            }
        });

    [Property(MaxTest = 300)]
    public Property A_plan_is_never_due_twice_within_its_interval() =>
        Prop.ForAll(History.ToArbitrary(), Gen.ArrayOf(Gen.Choose(1, 30)).ToArbitrary(), (events, steps) =>
        {
            // Run the scheduler's loop: at each check start every due drill; no plan may be started twice within its interval.
            var schedule = Build(events);
            var now = events.Length == 0 ? T0 : events.Max(At);
            var lastStart = new Dictionary<string, long>();
            foreach (var step in steps)
            {
                now += step * 60_000L;
                foreach (var d in schedule.Due(now, Minimum))
                {
                    if (lastStart.TryGetValue(d.PlanId, out var previous))
                        Assert.True(now - previous >= (long)Interval(schedule.Plans[d.PlanId]).TotalMilliseconds,
                            $"plan {d.PlanId} due again {now - previous} ms after its drill started (interval {Interval(schedule.Plans[d.PlanId])})");
                    lastStart[d.PlanId] = now;
                    schedule = schedule.Started(d.PlanId, now);
                    Assert.DoesNotContain(schedule.Due(now, Minimum), x => x.PlanId == d.PlanId);
                }
            }
        });

    [Fact]
    public void A_weekly_plan_counts_from_when_the_schedule_was_set_then_from_each_drill()
    {
        var week = TimeSpan.FromDays(7);
        var s = Build([new RecoveryPlanDrillScheduleSet("p1", week, null, T0)]);
        Assert.Equal(TimeSpan.FromMinutes(30), s.Plans["p1"].Ttl);
        Assert.Empty(s.Due(T0, TimeSpan.FromHours(1)));
        Assert.Empty(s.Due(T0 + (long)week.TotalMilliseconds - 1, TimeSpan.FromHours(1)));
        Assert.Equal([new DueDrill("p1", TimeSpan.FromMinutes(30))], s.Due(T0 + (long)week.TotalMilliseconds, TimeSpan.FromHours(1)));
        // An operator's test failover moves the next scheduled drill; a planned failover does not.
        var manual = s.Apply(Started("p1", T0 + 86_400_000L)).Apply(Started("p1", T0 + 2 * 86_400_000L, FailoverKind.Planned));
        Assert.Empty(manual.Due(T0 + (long)week.TotalMilliseconds, TimeSpan.FromHours(1)));
        Assert.Single(manual.Due(T0 + 86_400_000L + (long)week.TotalMilliseconds, TimeSpan.FromHours(1)));
        // The node's minimum wins over a shorter stored interval.
        var often = Build([new RecoveryPlanDrillScheduleSet("p2", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), T0)]);
        Assert.Empty(often.Due(T0 + 59 * 60_000L, TimeSpan.FromHours(1)));
        Assert.Single(often.Due(T0 + 60 * 60_000L, TimeSpan.FromHours(1)));
    }

    private static long At(object e) => e switch
    {
        RecoveryPlanDrillScheduleSet s => s.AtUnixMs,
        RecoveryPlanDeleted d => d.AtUnixMs,
        FailoverJobStarted f => f.RequestedUnixMs,
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };
}

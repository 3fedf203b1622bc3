using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>A drill the schedule wants started now: a test failover of the plan to <c>latest</c>, cleaned up after <see cref="Ttl"/>.</summary>
public sealed record DueDrill(string PlanId, TimeSpan Ttl);

/// <summary>
/// One recovery plan as the drill schedule knows it from the journal: its schedule (both null or both set), when the
/// schedule was set, and when its newest test failover (scheduled or started by an operator) was asked for.
/// </summary>
public sealed record DrillPlan(string PlanId, TimeSpan? Every, TimeSpan? Ttl, long? ScheduleSetUnixMs, long? LastDrillStartUnixMs);

/// <summary>
/// When each recovery plan is due a drill. Pure, built from the journal (<see cref="Apply"/>), so the rules are tested
/// without a clock or a node. Rules:
/// <list type="bullet">
/// <item>A plan without a schedule (never set, removed, or the plan deleted) is never due.</item>
/// <item>A plan is due once max(its interval, the node's minimum) has passed since its last drill start; a plan never
/// drilled counts from when its schedule was set (setting a weekly schedule does not start a drill at once).</item>
/// <item>Any test failover of the plan counts as a drill start, so an operator's drill moves the next scheduled one.</item>
/// <item>A start the scheduler made itself is recorded at once (<see cref="Started"/>), before its journal event arrives,
/// so a plan is never due twice within its interval. A start that failed is not recorded: the plan stays due and is tried
/// again at the next check, not in a loop.</item>
/// </list>
/// </summary>
public sealed record DrillSchedule(ImmutableDictionary<string, DrillPlan> Plans)
{
    public static readonly DrillSchedule Empty = new(ImmutableDictionary<string, DrillPlan>.Empty.WithComparers(StringComparer.Ordinal));

    /// <summary>Follows the plans' drill schedules and the test failovers; every other event leaves the schedule as it is.</summary>
    public DrillSchedule Apply(object @event) => @event switch
    {
        RecoveryPlanDrillScheduleSet e => With(Plan(e.PlanId) with
        {
            Every = e.DrillEvery, Ttl = e.DrillEvery is null ? null : e.DrillTtl ?? SetDrillSchedule.DefaultTtl, ScheduleSetUnixMs = e.AtUnixMs,
        }),
        RecoveryPlanDeleted e when Plans.ContainsKey(e.PlanId) => With(Plan(e.PlanId) with { Every = null, Ttl = null, ScheduleSetUnixMs = null }),
        FailoverJobStarted { Kind: FailoverKind.Test } e => Started(e.PlanId, e.RequestedUnixMs),
        _ => this,
    };

    /// <summary>Records a drill start of <paramref name="planId"/> at <paramref name="atUnixMs"/> (an older start than the known one changes nothing).</summary>
    public DrillSchedule Started(string planId, long atUnixMs)
    {
        var plan = Plan(planId);
        return plan.LastDrillStartUnixMs >= atUnixMs ? this : With(plan with { LastDrillStartUnixMs = atUnixMs });
    }

    /// <summary>The drills due at <paramref name="nowUnixMs"/>, one per plan, ordered by plan id.</summary>
    public IReadOnlyList<DueDrill> Due(long nowUnixMs, TimeSpan minimumEvery)
    {
        var due = new List<DueDrill>();
        foreach (var p in Plans.Values.OrderBy(p => p.PlanId, StringComparer.Ordinal))
        {
            if (p.Every is not { } every || every <= TimeSpan.Zero || p.Ttl is not { } ttl) continue;
            if ((p.LastDrillStartUnixMs ?? p.ScheduleSetUnixMs) is not { } since) continue;
            var interval = (long)(every > minimumEvery ? every : minimumEvery).TotalMilliseconds;
            if (nowUnixMs - since >= interval) due.Add(new DueDrill(p.PlanId, ttl));
        }
        return due;
    }

    private DrillPlan Plan(string planId) => Plans.TryGetValue(planId, out var p) ? p : new DrillPlan(planId, null, null, null, null);

    private DrillSchedule With(DrillPlan plan) => this with { Plans = Plans.SetItem(plan.PlanId, plan) };
}

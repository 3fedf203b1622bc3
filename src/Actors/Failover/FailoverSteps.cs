using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>
/// The steps of a failover, fixed from the plan when the job starts: for a planned failover first stop the source and
/// take the final point; resolve every machine's point; then per boot group
/// its pre actions, the start of its machines (each waited for until booted), its post actions; and for a test failover
/// the drill report. A later change of the plan does not move a running job.
/// </summary>
public static class FailoverSteps
{
    public static IReadOnlyList<FailoverStepPlan> Build(IReadOnlyList<BootGroup> groups, FailoverKind kind)
    {
        var steps = new List<FailoverStepPlan>();
        var all = groups.SelectMany(g => g.Machines).ToList();
        if (kind == FailoverKind.Planned)
            steps.Add(new FailoverStepPlan(0, FailoverStepKind.StopSource, "stop the source: exports read-only, every delta drained, the final point taken", null, all));
        steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.ResolvePoint, "resolve the point of every machine", null, all));
        for (var g = 0; g < groups.Count; g++)
        {
            var group = g + 1;
            foreach (var a in groups[g].Pre ?? []) steps.Add(Action(steps.Count, a, group, "before"));
            steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.StartGroup, $"start boot group {group}", group, groups[g].Machines.ToList()));
            foreach (var a in groups[g].Post ?? []) steps.Add(Action(steps.Count, a, group, "after"));
        }
        if (kind == FailoverKind.Test)
            steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.DrillReport, "drill report: checksums on two paths, RPO and RTO", null, all));
        return steps;
    }

    static FailoverStepPlan Action(int index, PlanAction a, int group, string when) => a.Kind == PlanAction.Manual
        ? new FailoverStepPlan(index, FailoverStepKind.Manual, $"{a.Name} ({when} group {group})", group, [], a.Instructions, null, a.TimeoutSeconds)
        : new FailoverStepPlan(index, FailoverStepKind.Script, $"{a.Name} ({when} group {group})", group, [], a.Instructions, a.Script, a.TimeoutSeconds);
}

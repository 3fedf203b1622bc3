using System.Globalization;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Alerts;

/// <summary>
/// Pure alert rules: from the facts, the currently active alerts (for hysteresis) and now, one <see cref="Observation"/>
/// per known target and kind (registered disks, machines with registered disks, process servers, master targets).
/// </summary>
public static class AlertRules
{
    public static IReadOnlyList<Observation> Evaluate(AlertFacts facts, IReadOnlySet<AlertKey> active, long nowUnixMs, AlertSettings settings)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(active);
        ArgumentNullException.ThrowIfNull(settings);
        var observations = new List<Observation>();
        observations.AddRange(Rpo(facts, nowUnixMs, settings.DefaultRpoThreshold));
        foreach (var disk in facts.Disks.Values.OrderBy(d => d.DiskId, StringComparer.Ordinal))
            observations.Add(Stopped(disk));
        foreach (var ps in facts.ProcessServers.Values.OrderBy(p => p.ServerId, StringComparer.Ordinal))
            observations.Add(Cache(ps, active.Contains(new AlertKey(AlertKind.CacheHighWater, ps.ServerId)), settings));
        foreach (var mt in facts.MasterTargets.Values.OrderBy(m => m.ServerId, StringComparer.Ordinal))
            observations.Add(Slots(mt));
        foreach (var app in facts.AppConsistency.Values.OrderBy(a => a.MachineId, StringComparer.Ordinal))
            observations.Add(AppConsistency(app));
        foreach (var skew in facts.ClockSkew.Values.Where(s => facts.Disks.ContainsKey(s.DiskId)).OrderBy(s => s.DiskId, StringComparer.Ordinal))
            observations.Add(ClockSkew(skew));
        foreach (var refusal in facts.WriterRefusals.Values.Where(r => facts.Disks.ContainsKey(r.Refusal.DiskId)).OrderBy(r => r.Refusal.DiskId, StringComparer.Ordinal))
            observations.Add(WriterRefused(refusal));
        foreach (var drill in facts.Drills.Values.OrderBy(d => d.PlanId, StringComparer.Ordinal))
            observations.Add(Drill(drill));
        return observations;
    }

    /// <summary>Detail text of a drill failure kept in an alert.</summary>
    public const int DrillDetailLimit = 400;

    /// <summary>Holds while the plan's newest drill outcome is a failure (and the plan was not deleted since); the detail names the job and the failure.</summary>
    public static Observation Drill(DrillFact fact)
    {
        string detail;
        if (fact.PlanDeleted) detail = $"plan deleted; its last drill was {fact.JobId}";
        else if (fact.Passed) detail = $"drill {fact.JobId} passed at {Time(fact.AtUnixMs)}";
        else
        {
            var why = fact.Failure ?? "no failure recorded";
            if (why.Length > DrillDetailLimit) why = why[..DrillDetailLimit] + "…";
            detail = $"drill {fact.JobId} failed at {Time(fact.AtUnixMs)}: {why}";
        }
        return new Observation(AlertKind.DrillFailed, fact.PlanId, fact.Failing, detail);
    }

    /// <summary>Holds while the master target's last report says the disk's agent clock is beyond the bound.</summary>
    public static Observation ClockSkew(ClockSkewFact fact)
    {
        var off = TimeSpan.FromMilliseconds(Math.Abs(fact.SkewMs));
        var detail = $"agent clock {off} {(fact.SkewMs >= 0 ? "ahead of" : "behind")} the master target's "
                     + $"({(fact.Exceeded ? "beyond" : "within")} the {TimeSpan.FromMilliseconds(fact.BoundMs)} bound, measured {Time(fact.AtUnixMs)}); "
                     + "retention and --time go by the master target's clock";
        return new Observation(AlertKind.AgentClockSkew, fact.DiskId, fact.Exceeded, detail);
    }

    /// <summary>Holds from a writer refusal until an operator releases or keeps the disk's binding; the detail names both writers.</summary>
    public static Observation WriterRefused(WriterRefusalFact fact)
    {
        var r = fact.Refusal;
        var detail = fact.Resolved
            ? $"writer refusal of {Time(r.AtUnixMs)} resolved by an operator"
            : $"{r.Reason} at {Time(r.AtUnixMs)}: {r.Detail}; release the binding (srctl writer release {r.DiskId}) if the machine was reinstalled, else stop the other writer and keep it (srctl writer keep {r.DiskId})";
        return new Observation(AlertKind.DiskWriterRefused, r.DiskId, !fact.Resolved, detail);
    }

    /// <summary>Detail text of a hook failure kept in an alert (hook output is already shortened by the agent).</summary>
    public const int AppConsistencyDetailLimit = 400;

    /// <summary>Holds while the machine's newest app-consistent request was recorded crash-consistent (no success since).</summary>
    public static Observation AppConsistency(AppConsistencyFact fact)
    {
        string detail;
        if (fact.Failing)
        {
            var f = fact.LastFailure!;
            var why = f.Detail.Length > AppConsistencyDetailLimit ? f.Detail[..AppConsistencyDetailLimit] + "…" : f.Detail;
            detail = $"bookmark {f.BookmarkId}{(f.DiskId is null ? "" : $" on disk {f.DiskId}")} at {Time(f.TimeUnixMs)} was recorded crash-consistent: {f.Reason}: {why}";
        }
        else
        {
            detail = fact.LastSuccessUnixMs is { } ok
                ? $"last application-consistent point {fact.LastSuccessBookmark} at {Time(ok)}"
                : "no application-consistency failure recorded";
        }

        return new Observation(AlertKind.AppConsistencyFailed, fact.MachineId, fact.Failing, detail);
    }

    private static string Time(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>One RPO check of a disk.</summary>
    public sealed record DiskRpo(string DiskId, string? MachineId, long RpoMs, long ThresholdMs, string? GroupId)
    {
        /// <summary>Over threshold: strictly greater (exactly at the threshold is fine).</summary>
        public bool Exceeded => RpoMs > ThresholdMs;

        public string Describe() =>
            $"RPO {Seconds(RpoMs)} s {(Exceeded ? "over" : "within")} the {Seconds(ThresholdMs)} s threshold of "
            + (GroupId is null ? "the default" : $"group {GroupId}");
    }

    /// <summary>RPO = now − newest recovery point (or registration time without one), never negative.</summary>
    public static DiskRpo RpoOf(AlertFacts facts, DiskFact disk, long nowUnixMs, TimeSpan defaultThreshold)
    {
        var since = disk.LastRecoveryPointUnixMs ?? disk.RegisteredAtUnixMs;
        var rpo = Math.Max(0, nowUnixMs - since);
        var machine = facts.MachineOf(disk);
        string? group = null;
        var threshold = defaultThreshold;
        if (machine is not null && facts.MachineGroup.TryGetValue(machine, out var g) && facts.GroupRpoThreshold.TryGetValue(g, out var t))
        {
            group = g;
            threshold = t;
        }

        return new DiskRpo(disk.DiskId, machine, rpo, (long)threshold.TotalMilliseconds, group);
    }

    private static IEnumerable<Observation> Rpo(AlertFacts facts, long now, TimeSpan defaultThreshold)
    {
        var checks = facts.Disks.Values
            .OrderBy(d => d.DiskId, StringComparer.Ordinal)
            .Select(d => RpoOf(facts, d, now, defaultThreshold))
            .ToList();
        foreach (var c in checks)
            yield return new Observation(AlertKind.DiskRpoExceeded, c.DiskId, c.Exceeded, c.Describe());

        foreach (var machine in checks.Where(c => c.MachineId is not null).GroupBy(c => c.MachineId!).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var over = machine.Where(c => c.Exceeded).ToList();
            var total = machine.Count();
            var detail = over.Count == 0
                ? $"all {total} disks within their RPO threshold"
                : $"{over.Count} of {total} disks over their RPO threshold; worst {Worst(over).DiskId}: {Worst(over).Describe()}";
            yield return new Observation(AlertKind.MachineRpoExceeded, machine.Key, over.Count > 0, detail);
        }
    }

    private static DiskRpo Worst(List<DiskRpo> over) =>
        over.OrderByDescending(c => c.RpoMs - c.ThresholdMs).ThenBy(c => c.DiskId, StringComparer.Ordinal).First();

    /// <summary>Hysteresis: raise at used ≥ high-water; once active, stay active until used &lt; low-water.</summary>
    public static Observation Cache(CacheFact ps, bool active, AlertSettings settings)
    {
        var percent = ps.CapacityBytes > 0 ? ps.UsedBytes * 100.0 / ps.CapacityBytes : 0;
        bool holds;
        if (ps.CapacityBytes <= 0) holds = false;
        else if (active) holds = !(ps.UsedBytes * 100.0 < settings.CacheLowWaterPercent * ps.CapacityBytes);
        else holds = ps.UsedBytes * 100.0 >= settings.CacheHighWaterPercent * ps.CapacityBytes;
        var detail = $"cache {percent.ToString("0.#", CultureInfo.InvariantCulture)} % used ({ps.UsedBytes} of {ps.CapacityBytes} bytes); "
                     + $"high-water {Num(settings.CacheHighWaterPercent)} %, low-water {Num(settings.CacheLowWaterPercent)} %";
        return new Observation(AlertKind.CacheHighWater, ps.ServerId, holds, detail);
    }

    /// <summary>Holds while a hop's storage fault stops the disk's replication; the detail names the reason and where it stopped.</summary>
    public static Observation Stopped(DiskFact disk) => disk.Stopped is { } s
        ? new(AlertKind.DiskReplicationStopped, disk.DiskId, true,
            $"replication stopped after #{s.StoppedAfter} at {Time(s.AtUnixMs)}: {s.Reason}: {s.Detail}; it resumes by itself once the storage accepts writes again")
        : new(AlertKind.DiskReplicationStopped, disk.DiskId, false, "replicating");

    /// <summary>Out of slots when no usable (slots − 1 reserved) data-disk slot is free.</summary>
    public static Observation Slots(SlotFact mt) =>
        new(AlertKind.MasterTargetOutOfSlots, mt.ServerId, mt.FreeSlots <= 0,
            $"{mt.Attached.Count} of {mt.UsableSlots} usable data-disk slots in use ({mt.DataDiskSlots} slots, 1 reserved for retention)");

    private static string Seconds(long ms) => (ms / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);
    private static string Num(double d) => d.ToString("0.###", CultureInfo.InvariantCulture);
}

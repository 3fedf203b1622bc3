namespace SiteRecovery.Actors.Alerts;

/// <summary>One disk's RPO: now − its newest recovery point (or its registration time without one).</summary>
public sealed record DiskRpoEntry(
    string DiskId, string? MachineId, long RpoMs, long? NewestPointUnixMs, string? NewestPointId, long ThresholdMs, bool Exceeded, string? GroupId);

/// <summary>
/// One machine's RPO: the worst of its disks (a machine is recovered with all its disks, so it is as old as its oldest).
/// <see cref="NewestPointUnixMs"/> is the oldest of the disks' newest points: every disk has a point at least that new
/// (null while some disk has none).
/// </summary>
public sealed record MachineRpoEntry(string MachineId, long RpoMs, long? NewestPointUnixMs, int Disks, string WorstDiskId, bool Exceeded);

/// <summary>RPO read model per disk and per machine, computed from the alert facts with the same rule the RPO alerts use.</summary>
public sealed record RpoReport(long NowUnixMs, IReadOnlyList<DiskRpoEntry> Disks, IReadOnlyList<MachineRpoEntry> Machines)
{
    public static RpoReport Of(AlertFacts facts, long nowUnixMs, TimeSpan defaultThreshold)
    {
        ArgumentNullException.ThrowIfNull(facts);
        var disks = facts.Disks.Values
            .OrderBy(d => d.DiskId, StringComparer.Ordinal)
            .Select(d =>
            {
                var rpo = AlertRules.RpoOf(facts, d, nowUnixMs, defaultThreshold);
                return new DiskRpoEntry(d.DiskId, rpo.MachineId, rpo.RpoMs, d.LastRecoveryPointUnixMs, d.LastRecoveryPointId, rpo.ThresholdMs, rpo.Exceeded, rpo.GroupId);
            })
            .ToList();
        var machines = disks
            .Where(d => d.MachineId is not null)
            .GroupBy(d => d.MachineId!, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var worst = g.OrderByDescending(d => d.RpoMs).ThenBy(d => d.DiskId, StringComparer.Ordinal).First();
                long? newest = g.All(d => d.NewestPointUnixMs is not null) ? g.Min(d => d.NewestPointUnixMs!.Value) : null;
                return new MachineRpoEntry(g.Key, worst.RpoMs, newest, g.Count(), worst.DiskId, g.Any(d => d.Exceeded));
            })
            .ToList();
        return new RpoReport(nowUnixMs, disks, machines);
    }

    public RpoReport ForMachine(string machineId) =>
        this with
        {
            Disks = Disks.Where(d => d.MachineId == machineId).ToList(),
            Machines = Machines.Where(m => m.MachineId == machineId).ToList(),
        };

    public RpoReport ForDisk(string diskId) =>
        this with
        {
            Disks = Disks.Where(d => d.DiskId == diskId).ToList(),
            Machines = Machines.Where(m => Disks.Any(d => d.DiskId == diskId && d.MachineId == m.MachineId)).ToList(),
        };
}

using SiteRecovery.Actors.Failover;
using SiteRecovery.Compute;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// A drill's proof of isolation on this node: which addresses each test failover machine's guest probes (planned by
/// <see cref="DrillIsolation.Plan"/> when its boot group starts) and, for the drill report, what the guests' consoles
/// say their packets reached (<see cref="GuestNet"/> is the guest's side of it).
/// </summary>
public sealed partial class NodeFailoverEffects : IDrillProbes
{
    /// <summary>
    /// The probes of each machine of a boot group about to start: its peers are the group's machines and those of the
    /// job's earlier groups (each has its folder in the job's folder by now, and still runs); a later group's machines
    /// are not up while this group probes, so they probe this one instead.
    /// </summary>
    async Task<IReadOnlyDictionary<string, (IReadOnlyList<DrillProbeTarget> Probes, string? NotProbed)>> DrillProbesAsync(
        string jobId, IReadOnlyList<MachinePoint> points, CancellationToken ct)
    {
        var group = points.Select(p => p.MachineId).ToHashSet(StringComparer.Ordinal);
        var root = JobDirectory(jobId);
        var earlier = Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Select(Path.GetFileName).OfType<string>().Where(id => !group.Contains(id))
            : [];
        var machines = new List<DrillMachineAddress>();
        foreach (var id in group.Concat(earlier).Distinct(StringComparer.Ordinal))
        {
            var properties = (await MachineAsync(id, ct))?.Properties;
            machines.Add(new DrillMachineAddress(id, properties?.FailoverNetwork ?? "", properties?.StaticAddress));
        }
        return points.ToDictionary(p => p.MachineId,
            p => DrillIsolation.Plan(machines.First(m => m.MachineId == p.MachineId), machines, settings.DrillOutsideHost, GuestNet.MaxProbes),
            StringComparer.Ordinal);
    }

    public async Task<IReadOnlyDictionary<string, GuestProbeReading>> ReadProbesAsync(IReadOnlyList<StartedMachineRecord> machines, CancellationToken ct)
    {
        var asked = machines.Where(m => m.Probes is { Count: > 0 }).ToList();
        // Side by side: each guest's pings retry for up to 30 s. A guest that printed no network line takes no hints and
        // is not waited for; one that stops running ends its wait at once.
        await Task.WhenAll(asked.Where(m => Read(m.ConsolePath).HintsTaken).Select(m =>
            compute.WaitBootedAsync(new MachineHandle(m.Target, m.MachineId, m.InstanceId, m.Pid, m.ConsolePath, m.Accelerator,
                DateTimeOffset.FromUnixTimeMilliseconds(m.StartedUnixMs)), GuestNet.ProbedMarker, settings.DrillProbeTimeout, ct)));
        // Read after every wait: a peer's console shows the hellos of guests that probed after it did.
        return asked.ToDictionary(m => m.MachineId, m => Read(m.ConsolePath), StringComparer.Ordinal);
    }

    /// <summary>What a guest's console says about its network so far.</summary>
    static GuestProbeReading Read(string consolePath)
    {
        var lines = new ConsoleFile(consolePath).ReadNew();
        var net = lines.Select(GuestNet.ParseNet).OfType<GuestNetLine>().LastOrDefault();
        var hello = GuestNet.Hello("");
        var heard = lines
            .Select(l => l.IndexOf(GuestNet.HeardPrefix, StringComparison.Ordinal) is var at and >= 0 ? l[(at + GuestNet.HeardPrefix.Length)..].Trim() : null)
            .Where(h => h is not null && h.StartsWith(hello, StringComparison.Ordinal))
            .Select(h => h![hello.Length..].Trim())
            .ToList();
        return new GuestProbeReading(net is not null, net?.Address?.Split('/')[0], lines.Any(l => l.Contains(GuestNet.ProbedMarker, StringComparison.Ordinal)),
            lines.Select(GuestNet.ParseProbe).OfType<GuestProbeLine>().Select(p => new GuestProbeOutcome(p.Address, p.PingAnswered, p.TcpSent)).ToList(), heard);
    }
}

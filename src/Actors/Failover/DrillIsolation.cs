using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>One machine of a drill as its failover properties place it: the network it maps to and its static address (null: none).</summary>
public sealed record DrillMachineAddress(string MachineId, string Network, string? Address);

/// <summary>One <c>SR-NET-PROBE</c> line of a guest: the address, whether it answered ping, whether it took the TCP hello.</summary>
public sealed record GuestProbeOutcome(string Address, bool PingAnswered, bool TcpSent);

/// <summary>
/// What a drill guest's console said about its network once it was done (or the wait for it ended):
/// <see cref="HintsTaken"/> when it printed its network line (a guest that does not take the target's hints prints none,
/// and proves nothing either way); <see cref="Address"/> the address it configured; <see cref="Probed"/> when it printed
/// <c>SR-NET-PROBED</c>; its probes; and the addresses whose hello it heard.
/// </summary>
public sealed record GuestProbeReading(bool HintsTaken, string? Address, bool Probed, IReadOnlyList<GuestProbeOutcome> Probes, IReadOnlyList<string> HeardFrom);

/// <summary>
/// A failover's effects that can read what drill guests' own packets reached. Beside <see cref="IFailoverEffects"/>, not in
/// it: a node that cannot read its guests' consoles still writes drill reports, which then say the machines were not probed.
/// </summary>
public interface IDrillProbes
{
    /// <summary>
    /// Waits (bounded by the node's setting) until every machine that was given probes and took them has reported them,
    /// then reads each one's console; keyed by machine id, a machine without probes absent.
    /// </summary>
    Task<IReadOnlyDictionary<string, GuestProbeReading>> ReadProbesAsync(IReadOnlyList<StartedMachineRecord> machines, CancellationToken ct);
}

/// <summary>
/// A drill's proof of isolation by its guests' own packets. Pure: which addresses each machine probes, and what the
/// probes it reported mean for the drill report.
///
/// Rules:
/// - A machine probes the other machines of its drill that map to the same failover network with a static address in
///   its own /24 (the guest configures a /24 and no route: anything else is unreachable by construction and proves
///   nothing), at most <c>maxProbes - 1</c> of them by machine id, and one outside address.
/// - The outside address is host <c>outsideHost</c> of the machine's own /24: on-link for the guest, so its packets to
///   it really go out of its NIC (an off-link address would fail inside the guest for want of a route, whatever the
///   network). It is what the node's side of the drill network would hold if it were joined to anything (a bridge with an
///   address, a host route, the production network's gateway); no machine can hold it (the local target gives machines
///   hosts 4..254). An isolated drill never reaches it.
/// - Only peers that start in the same boot group or an earlier one are probed (the caller's choice of
///   <c>others</c>): a later group's machines are not up yet while this one probes; they probe this one instead.
/// - Verdict, strict where the packets are evidence: the outside address answering ping or taking the hello fails the
///   machine ("not isolated"); a peer that booted and answered neither fails it; a peer whose hello was taken while its
///   own console does not show it fails it (someone else holds that address); a peer that did not boot is noted, not
///   held against this machine (its own boot failure is in the report). A guest that took its hints but did not report
///   its probes in time fails. Under user-mode isolation every machine has a network of its own, so unanswered peers
///   are noted only. A machine without probes, or whose guest prints no network line (a guest that does not take the
///   target's hints), is "not probed", with the reason, and passes on its other checks.
/// </summary>
public static class DrillIsolation
{
    /// <summary>The prefix of a target's isolation line when the machine had no network namespace (each machine its own user-mode network).</summary>
    public const string UserModePrefix = "user-mode";

    /// <summary>The addresses <paramref name="machine"/> probes, or none and why.</summary>
    public static (IReadOnlyList<DrillProbeTarget> Probes, string? NotProbed) Plan(DrillMachineAddress machine, IReadOnlyList<DrillMachineAddress> others, int outsideHost, int maxProbes)
    {
        if (machine.Address is null) return ([], "no static address in its failover properties: the guest has no address to send probes from");
        if (Subnet(machine.Address) is not { } subnet) return ([], $"its static address {machine.Address} is not IPv4 (the guest probes IPv4 only)");
        var peers = others
            .Where(o => o.MachineId != machine.MachineId && o.Network == machine.Network && o.Address is not null && o.Address != machine.Address && Subnet(o.Address) == subnet)
            .OrderBy(o => o.MachineId, StringComparer.Ordinal)
            .DistinctBy(o => o.Address)
            .Take(Math.Max(0, maxProbes - 1))
            .Select(o => new DrillProbeTarget(o.Address!, DrillProbeRole.Peer, o.MachineId));
        return ([.. peers, new DrillProbeTarget($"{subnet}.{outsideHost}", DrillProbeRole.Outside, null)], null);
    }

    /// <summary>
    /// The isolation evidence of <paramref name="machineId"/>: its planned probes (from its start record), what its guest
    /// and its peers' guests reported (<paramref name="readings"/>; null: this node reads none), and the verdict.
    /// </summary>
    public static DrillIsolationEvidence Judge(string machineId, IReadOnlyList<StartedMachineRecord> started, IReadOnlyList<MachineBootRecord> boots,
        IReadOnlyDictionary<string, GuestProbeReading>? readings)
    {
        var me = started.FirstOrDefault(m => m.MachineId == machineId);
        if (me is null || boots.FirstOrDefault(b => b.MachineId == machineId) is not { Booted: true })
            return NotProbed("it did not boot");
        if (me.Probes is not { Count: > 0 } targets) return NotProbed(me.NotProbed ?? "it was given no probes (started before drills probed)");
        if (readings is null) return NotProbed("this node does not read its guests' probes");
        if (readings.GetValueOrDefault(machineId) is not { HintsTaken: true } reading)
            return NotProbed("its guest printed no network line: it does not take the target's network hints, so its own packets show nothing");
        if (!reading.Probed)
            return new DrillIsolationEvidence(false, null, [], $"its guest took its network hints but did not report its probes ({ProbedMarker}) in time");

        var userMode = me.Isolation?.StartsWith(UserModePrefix, StringComparison.Ordinal) ?? false;
        var results = new List<DrillProbeResult>();
        var failures = new List<string>();
        foreach (var target in targets)
        {
            var outcome = reading.Probes.LastOrDefault(p => p.Address == target.Address);
            if (outcome is null)
            {
                results.Add(new DrillProbeResult(target.Address, target.Role, target.PeerMachineId, false, false, null, "the guest reported no probe of it"));
                failures.Add($"its guest reported no probe of {target.Address}");
                continue;
            }
            if (target.Role == DrillProbeRole.Outside)
            {
                results.Add(new DrillProbeResult(target.Address, target.Role, null, outcome.PingAnswered, outcome.TcpSent, null, null));
                if (outcome.PingAnswered || outcome.TcpSent)
                    failures.Add($"not isolated: machine {machineId} reached {target.Address} (outside: {How(outcome)})");
                continue;
            }
            var peer = target.PeerMachineId!;
            var peerBooted = boots.FirstOrDefault(b => b.MachineId == peer) is { Booted: true };
            var peerReading = readings.GetValueOrDefault(peer);
            bool? heard = peerReading is { HintsTaken: true } && reading.Address is { } mine ? peerReading.HeardFrom.Contains(mine) : null;
            string? note = null;
            if (!peerBooted) note = "the peer did not boot: not held against this machine";
            else if (!outcome.PingAnswered && !outcome.TcpSent)
            {
                if (userMode) note = "unanswered: under user-mode isolation each machine has a network of its own";
                else failures.Add($"peer {peer} at {target.Address} on the same drill network did not answer (ping and TCP hello both failed)");
            }
            else if (outcome.TcpSent && heard == false)
                failures.Add($"peer {peer} at {target.Address} took a TCP hello that its own console does not show: something else answers at its address");
            results.Add(new DrillProbeResult(target.Address, target.Role, peer, outcome.PingAnswered, outcome.TcpSent, heard, note));
        }
        return new DrillIsolationEvidence(true, null, results, failures.Count == 0 ? null : string.Join("; ", failures));
    }

    const string ProbedMarker = "SR-NET-PROBED";

    static DrillIsolationEvidence NotProbed(string why) => new(false, why, [], null);

    static string How(GuestProbeOutcome o) => (o.PingAnswered, o.TcpSent) switch
    {
        (true, true) => "ping answered, TCP hello taken",
        (true, false) => "ping answered",
        _ => "TCP hello taken",
    };

    /// <summary>The first three bytes of an IPv4 address in dotted form (<c>198.18.7</c>), or null.</summary>
    static string? Subnet(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork
            ? string.Join('.', ip.GetAddressBytes()[..3])
            : null;
}

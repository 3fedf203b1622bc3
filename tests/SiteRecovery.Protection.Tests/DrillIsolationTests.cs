using System.Text;
using System.Text.Json.Nodes;
using Akka.Actor;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>
/// The drill's isolation judge (<see cref="DrillIsolation"/>): which addresses a drill guest probes, and what its own
/// packets mean for the report, as tables; and the report's new member beside old reports.
/// </summary>
public sealed class DrillIsolationTests : IDisposable
{
    const string Net = "198.18.7";
    static readonly DrillProbeTarget PeerB = new($"{Net}.12", DrillProbeRole.Peer, "b");
    static readonly DrillProbeTarget Outside = new($"{Net}.1", DrillProbeRole.Outside, null);

    public static TheoryData<string, DrillMachineAddress, DrillMachineAddress[], string[], string?> Plans => new()
    {
        { "peers on the same network and /24, then the outside host of its own /24",
            new("a", "vnet", $"{Net}.11"), [new("a", "vnet", $"{Net}.11"), new("c", "vnet", $"{Net}.13"), new("b", "vnet", $"{Net}.12")],
            [$"peer b {Net}.12", $"peer c {Net}.13", $"outside {Net}.1"], null },
        { "another failover network, another /24, no address and the same address are no peers",
            new("a", "vnet", $"{Net}.11"), [new("b", "other", $"{Net}.12"), new("c", "vnet", "198.18.8.13"), new("d", "vnet", null), new("e", "vnet", $"{Net}.11")],
            [$"outside {Net}.1"], null },
        { "no static address: not probed", new("a", "vnet", null), [new("b", "vnet", $"{Net}.12")], [], "no static address" },
        { "IPv6: not probed", new("a", "vnet", "2001:db8::7"), [], [], "not IPv4" },
        { "at most max - 1 peers, by machine id",
            new("a", "vnet", $"{Net}.11"), [new("d", "vnet", $"{Net}.14"), new("b", "vnet", $"{Net}.12"), new("c", "vnet", $"{Net}.13")],
            [$"peer b {Net}.12", $"peer c {Net}.13", $"outside {Net}.1"], null },
    };

    [Theory]
    [MemberData(nameof(Plans))]
    public void A_drill_guest_probes_its_peers_on_its_network_and_one_outside_address(string why, DrillMachineAddress machine, DrillMachineAddress[] others, string[] want, string? notProbed)
    {
        var (probes, reason) = DrillIsolation.Plan(machine, others, outsideHost: 1, maxProbes: why.StartsWith("at most", StringComparison.Ordinal) ? 3 : 8);
        Assert.Equal(want, probes.Select(p => p.Role == DrillProbeRole.Peer ? $"peer {p.PeerMachineId} {p.Address}" : $"outside {p.Address}"));
        if (notProbed is null) Assert.Null(reason);
        else Assert.Contains(notProbed, reason, StringComparison.Ordinal);
    }

    static StartedMachineRecord Started(string id, IReadOnlyList<DrillProbeTarget>? probes, string? isolation = "netns sr-job-1 bridge br0 tap srt1", string? notProbed = null) =>
        new("local", id, id, "sr-" + id, 100, $"/tmp/console-{id}.log", "tcg", 0, []) { Probes = probes, Isolation = isolation, NotProbed = notProbed };

    static MachineBootRecord Boot(string id, bool booted = true) => new(id, booted, 1, 10, null, booted ? null : "did not boot", []);

    static GuestProbeReading Reading(string address, bool probed, IReadOnlyList<GuestProbeOutcome> probes, params string[] heard) =>
        new(true, address, probed, probes, heard);

    /// <summary>a (198.18.7.11) probes b (.12) and the outside (.1); b probes a and the outside; the table varies what they reported.</summary>
    public static TheoryData<string, StartedMachineRecord[], MachineBootRecord[], Dictionary<string, GuestProbeReading>?, bool, string?> Verdicts()
    {
        var aProbes = new[] { PeerB, Outside };
        var bProbes = new[] { new DrillProbeTarget($"{Net}.11", DrillProbeRole.Peer, "a"), Outside };
        var both = new[] { Started("a", aProbes), Started("b", bProbes) };
        var booted = new[] { Boot("a"), Boot("b") };
        GuestProbeReading A(bool peerPing, bool peerTcp, bool outPing = false, bool outTcp = false, bool probed = true, params string[] heard) =>
            Reading($"{Net}.11", probed, [new($"{Net}.12", peerPing, peerTcp), new($"{Net}.1", outPing, outTcp)], heard);
        var b = Reading($"{Net}.12", true, [new($"{Net}.11", true, true), new($"{Net}.1", false, false)], $"{Net}.11");
        return new()
        {
            { "isolated: the peer answered and heard a, the outside did not", both, booted, new() { ["a"] = A(true, true, heard: $"{Net}.12"), ["b"] = b }, true, null },
            { "the outside answered ping: not isolated", both, booted, new() { ["a"] = A(true, true, outPing: true), ["b"] = b }, true, $"not isolated: machine a reached {Net}.1 (outside: ping answered)" },
            { "the outside took the hello: not isolated", both, booted, new() { ["a"] = A(true, true, outTcp: true), ["b"] = b }, true, $"not isolated: machine a reached {Net}.1 (outside: TCP hello taken)" },
            { "a booted peer answered nothing", both, booted, new() { ["a"] = A(false, false), ["b"] = b }, true, $"peer b at {Net}.12 on the same drill network did not answer" },
            { "the peer answered ping only: reached", both, booted, new() { ["a"] = A(true, false), ["b"] = b }, true, null },
            { "a hello taken that the peer never printed", both, booted, new() { ["a"] = A(true, true), ["b"] = Reading($"{Net}.12", true, [], []) }, true, "something else answers at its address" },
            { "a peer that did not boot is not held against a", both, [Boot("a"), Boot("b", false)], new() { ["a"] = A(false, false) }, true, null },
            { "under user-mode isolation an unanswered peer is noted only",
                [Started("a", aProbes, "user-mode restrict=on (no netns)"), Started("b", bProbes)], booted, new() { ["a"] = A(false, false), ["b"] = b }, true, null },
            { "hints taken, probes not reported in time", both, booted, new() { ["a"] = A(true, true, probed: false), ["b"] = b }, false, "did not report its probes" },
            { "the guest reported no probe of an address", both, booted,
                new() { ["a"] = Reading($"{Net}.11", true, [new($"{Net}.12", true, true)], $"{Net}.12"), ["b"] = b }, true, $"its guest reported no probe of {Net}.1" },
            { "a guest that takes no hints: not probed, passes", both, booted, new() { ["a"] = new(false, null, false, [], []) }, false, null },
            { "no probes planned: not probed, passes", [Started("a", null, notProbed: "no static address in its failover properties")], [Boot("a")], new(), false, null },
            { "a node that reads no probes: not probed, passes", both, booted, null, false, null },
            { "a did not boot: not judged here", both, [Boot("a", false), Boot("b")], new() { ["a"] = A(false, false, outPing: true) }, false, null },
        };
    }

    [Theory]
    [MemberData(nameof(Verdicts))]
    public void The_drill_report_judges_what_a_guest_reached_with_its_own_packets(string why, StartedMachineRecord[] started, MachineBootRecord[] boots,
        Dictionary<string, GuestProbeReading>? readings, bool probed, string? failure)
    {
        var evidence = DrillIsolation.Judge("a", started, boots, readings);
        Assert.True(probed == evidence.Probed, $"{why}: got probed {evidence.Probed} ({evidence.NotProbed}), want {probed}");
        if (failure is null) Assert.True(evidence.Failure is null, $"{why}: got failure '{evidence.Failure}', want none");
        else Assert.True(evidence.Failure?.Contains(failure, StringComparison.Ordinal) == true, $"{why}: got failure '{evidence.Failure}', want one containing '{failure}'");
        if (!probed) Assert.True(evidence.NotProbed is not null || evidence.Failure is not null, $"{why}: not probed without a reason");
    }

    [Fact]
    public void Each_probe_is_listed_with_what_answered()
    {
        var readings = new Dictionary<string, GuestProbeReading>
        {
            ["a"] = Reading($"{Net}.11", true, [new($"{Net}.12", true, true), new($"{Net}.1", false, false)], $"{Net}.12"),
            ["b"] = Reading($"{Net}.12", true, [], $"{Net}.11"),
        };
        var evidence = DrillIsolation.Judge("a", [Started("a", [PeerB, Outside]), Started("b", [Outside])], [Boot("a"), Boot("b")], readings);
        Assert.Equal(
            [new DrillProbeResult($"{Net}.12", DrillProbeRole.Peer, "b", true, true, true, null), new DrillProbeResult($"{Net}.1", DrillProbeRole.Outside, null, false, false, null, null)],
            evidence.Probes);
    }

    readonly ActorSystem _system = ActorTestNode.CreateSystem("drill-isolation-serialization");

    ControlJsonSerializer Serializer => new((ExtendedActorSystem)_system);

    [Fact]
    public void A_report_with_probes_round_trips_and_an_old_report_without_them_still_loads()
    {
        var drill = new MachineDrill("a", "latest", 1, 2, 3, "tcg", null, [], false, "not isolated")
        {
            GuestNetwork = $"SR-NET eth0 52:54:00:00:00:01 {Net}.11/24",
            Isolation = new DrillIsolationEvidence(true, null, [new($"{Net}.1", DrillProbeRole.Outside, null, true, false, null, null)], $"not isolated: machine a reached {Net}.1 (outside: ping answered)"),
        };
        var reported = new FailoverDrillReported("job-1", 4, new DrillReport("job-1", "p", "latest", 1, 2, 3, [drill], [], false, "a: not isolated"));
        var bytes = Serializer.ToBinary(reported);
        var back = (FailoverDrillReported)Serializer.FromBinary(bytes, Serializer.Manifest(reported));
        var isolation = back.Report.Machines[0].Isolation!;
        Assert.Equal((true, drill.Isolation.Failure), (isolation.Probed, isolation.Failure));
        Assert.Equal(drill.Isolation.Probes, isolation.Probes);

        // The same event as the previous version wrote it: no Isolation member anywhere.
        var old = JsonNode.Parse(bytes)!;
        var machine = old["Report"]!["Machines"]![0]!.AsObject();
        Assert.True(machine.Remove("Isolation"), $"no Isolation member to remove in {old.ToJsonString()}");
        var loaded = (FailoverDrillReported)Serializer.FromBinary(Encoding.UTF8.GetBytes(old.ToJsonString()), "failover-drill-reported.v1");
        Assert.Null(loaded.Report.Machines[0].Isolation);
        Assert.Equal(drill.GuestNetwork, loaded.Report.Machines[0].GuestNetwork);
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}

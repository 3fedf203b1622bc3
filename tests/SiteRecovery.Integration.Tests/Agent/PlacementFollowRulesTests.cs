using System.Net;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Integration.Tests;

/// <summary>
/// The pure rules of following a placement: what the configuration node answers for a machine (<see cref="AgentPlacement.Of"/>),
/// what the agent does with an answer (<see cref="PlacementFollow.Decide"/>), and how fresh a proof must be.
/// </summary>
public sealed class PlacementFollowRulesTests
{
    static ProtectedMachineView Machine(ProtectionState state, PlacementDecision? placement) => new("vm1", state, null, placement, null);
    static readonly ProcessServerTarget Ps1 = new(IPEndPoint.Parse("127.0.0.1:7001"), "n1-ps");

    static AgentPlacement Answer(string? ps, string? address) =>
        new("vm1", ps is not null && address is not null, ps, address, "n1-mt", "Protected", ps is null ? "not placed" : null);

    [Fact]
    public void The_answer_names_the_placed_process_server_only_while_the_machine_replicates()
    {
        string? Known(string id) => id == "n1-ps" ? "127.0.0.1:7001" : null;
        var placed = AgentPlacement.Of("vm1", Machine(ProtectionState.Protected, new PlacementDecision("n1-mt", "n1-ps")), Known);
        Assert.Equal(("n1-ps", "127.0.0.1:7001", true), (placed.ProcessServerId, placed.ProcessServerAddress, placed.Placed));
        Assert.True(AgentPlacement.Of("vm1", Machine(ProtectionState.InitialReplication, new PlacementDecision("n1-mt", "n1-ps")), Known).Placed);

        var never = AgentPlacement.Of("vm1", null, Known);
        Assert.False(never.Placed);
        Assert.Contains("not discovered", never.Reason);
        var discovered = AgentPlacement.Of("vm1", Machine(ProtectionState.Discovered, null), Known);
        Assert.False(discovered.Placed);
        Assert.Contains("not placed", discovered.Reason);
        foreach (var gone in new[] { ProtectionState.Disabling, ProtectionState.Disabled })
        {
            var off = AgentPlacement.Of("vm1", Machine(gone, new PlacementDecision("n1-mt", "n1-ps")), Known);
            Assert.False(off.Placed);
            Assert.Null(off.ProcessServerId);
        }
        var unknown = AgentPlacement.Of("vm1", Machine(ProtectionState.Protected, new PlacementDecision("n1-mt", "n2-ps")), Known);
        Assert.False(unknown.Placed);
        Assert.Equal("n2-ps", unknown.ProcessServerId);
        Assert.Contains("does not know", unknown.Reason);
    }

    [Fact]
    public void An_agent_goes_to_a_new_placement_stays_on_the_same_and_waits_without_one()
    {
        Assert.Equal(new PlacementStep.Go(Ps1), PlacementFollow.Decide(null, Answer("n1-ps", "127.0.0.1:7001")));
        Assert.IsType<PlacementStep.Stay>(PlacementFollow.Decide(Ps1, Answer("n1-ps", "127.0.0.1:7001")));
        // Another process server, or the same id at another address: the agent moves.
        Assert.Equal(new PlacementStep.Go(new ProcessServerTarget(IPEndPoint.Parse("127.0.0.1:7002"), "n2-ps")), PlacementFollow.Decide(Ps1, Answer("n2-ps", "127.0.0.1:7002")));
        Assert.IsType<PlacementStep.Go>(PlacementFollow.Decide(Ps1, Answer("n1-ps", "127.0.0.1:7009")));
        // No placement: wait (a replicating agent stays where it is); an address that is no HOST:PORT is no placement.
        Assert.Equal("not placed", Assert.IsType<PlacementStep.Wait>(PlacementFollow.Decide(Ps1, Answer(null, null))).Reason);
        Assert.Contains("not usable", Assert.IsType<PlacementStep.Wait>(PlacementFollow.Decide(null, Answer("n1-ps", "no-port"))).Reason);
    }

    [Fact]
    public void A_proof_is_fresh_within_the_window_either_way()
    {
        var now = 1_800_000_000_000L;
        var window = (long)PlacementProof.Window.TotalMilliseconds;
        Assert.Null(PlacementProof.Stale(now, now));
        Assert.Null(PlacementProof.Stale(now - window, now));
        Assert.Null(PlacementProof.Stale(now + window, now));
        Assert.NotNull(PlacementProof.Stale(now - window - 1, now));
        Assert.NotNull(PlacementProof.Stale(now + window + 1, now));
        Assert.NotEqual(PlacementProof.Payload("vm1", "vm1", now), PlacementProof.Payload("vm1", "vm2", now));
    }
}

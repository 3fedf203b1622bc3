using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>What an agent that follows its placement does with one answer of the configuration server.</summary>
public abstract record PlacementStep
{
    PlacementStep() { }

    /// <summary>The disks are placed where the agent replicates already.</summary>
    public sealed record Stay : PlacementStep;

    /// <summary>Replicate to <paramref name="Target"/>: the first placement, or a move away from the current process server.</summary>
    public sealed record Go(ProcessServerTarget Target) : PlacementStep;

    /// <summary>
    /// No process server to go to (<paramref name="Reason"/>): an agent not replicating yet keeps capturing; one that
    /// replicates stays where it is, since leaving would only stop replication (the process server decides whether it
    /// still takes the disks).
    /// </summary>
    public sealed record Wait(string Reason) : PlacementStep;
}

/// <summary>The pure rule of <see cref="PlacementFollower"/>: from where the agent replicates now and one answer, the step.</summary>
public static class PlacementFollow
{
    public static PlacementStep Decide(ProcessServerTarget? current, AgentPlacement answer)
    {
        if (!answer.Placed || answer.ProcessServerAddress is null || answer.ProcessServerId is null)
            return new PlacementStep.Wait(answer.Reason ?? $"machine {answer.MachineId} is not placed");
        ProcessServerTarget target;
        try { target = new ProcessServerTarget(HostPort.Parse("placement", answer.ProcessServerAddress), answer.ProcessServerId); }
        catch (Exception e) when (e is ArgumentException or SocketException or FormatException)
        {
            return new PlacementStep.Wait($"process server {answer.ProcessServerId}'s address '{answer.ProcessServerAddress}' is not usable: {e.Message}");
        }
        return current is not null && SameTarget(current, target) ? new PlacementStep.Stay() : new PlacementStep.Go(target);
    }

    static bool SameTarget(ProcessServerTarget a, ProcessServerTarget b) => a.Id == b.Id && Equals(a.Address, b.Address);
}

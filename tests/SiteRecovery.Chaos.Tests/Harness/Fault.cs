using System.Globalization;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests.Harness;

public enum FaultKind
{
    /// <summary>SIGKILL of a node or an agent, then a start on the same data and ports.</summary>
    Kill,
    /// <summary>SIGSTOP of a node for a while, then SIGCONT: a node that hangs (GC storm, stalled disk) and comes back.</summary>
    Pause,
    /// <summary>The link between two processes cut both ways for a while: open connections reset, new ones reach the far side and get no answer.</summary>
    Partition,
}

/// <summary>One fault of a schedule: what, on which process or link (an index into the cluster's list), and how long it lasts.</summary>
public sealed record Fault(FaultKind Kind, int Target, TimeSpan Hold)
{
    public string Describe(ChaosCluster c) => Kind switch
    {
        FaultKind.Kill => $"SIGKILL {ProcessName(c, Target)}, restart after {Hold.TotalMilliseconds:0} ms",
        FaultKind.Pause => $"SIGSTOP node {c.Nodes[Target].Id} for {Hold.TotalMilliseconds:0} ms",
        FaultKind.Partition => $"partition {c.Links[Target].From}-{c.Links[Target].To} for {Hold.TotalMilliseconds:0} ms",
        _ => Kind.ToString(),
    };

    /// <summary>Processes are numbered nodes first, then agents.</summary>
    public static string ProcessName(ChaosCluster c, int i) => i < c.Nodes.Count ? $"node {c.Nodes[i].Id}" : $"agent {c.Agents[i - c.Nodes.Count].Id}";

    public async Task InjectAsync(ChaosCluster c)
    {
        switch (Kind)
        {
            case FaultKind.Kill when Target < c.Nodes.Count:
                c.Nodes[Target].Kill9();
                await Task.Delay(Hold);
                await c.Nodes[Target].StartAsync(TimeSpan.FromMinutes(2));
                break;
            case FaultKind.Kill:
                var agent = c.Agents[Target - c.Nodes.Count];
                agent.Kill9();
                await Task.Delay(Hold);
                await agent.StartAsync(TimeSpan.FromMinutes(2));
                break;
            case FaultKind.Pause:
                var pid = c.Nodes[Target].Process!.Pid.ToString(CultureInfo.InvariantCulture);
                await ExternalTool.RunOkAsync("kill", ["-STOP", pid], TimeSpan.FromSeconds(10));
                try { await Task.Delay(Hold); }
                finally { await ExternalTool.RunOkAsync("kill", ["-CONT", pid], TimeSpan.FromSeconds(10)); }
                break;
            case FaultKind.Partition:
                var proxy = c.Links[Target].Proxy;
                proxy.Set(FaultProxy.Mode.DropAnswers);
                try { await Task.Delay(Hold); }
                finally { proxy.Set(FaultProxy.Mode.Pass); }
                break;
        }
    }
}

/// <summary>
/// The faults of a run, drawn from a seed so a run can be replayed: a CI schedule is one fault of each kind in a random
/// order on random targets; a long run draws kinds and targets freely.
/// </summary>
public static class FaultSchedule
{
    public static Fault Draw(Random rng, ChaosCluster c, FaultKind kind) => kind switch
    {
        FaultKind.Kill => new Fault(kind, rng.Next(c.Nodes.Count + c.Agents.Count), TimeSpan.FromMilliseconds(rng.Next(100, 1500))),
        FaultKind.Pause => new Fault(kind, rng.Next(c.Nodes.Count), TimeSpan.FromMilliseconds(rng.Next(500, 4000))),
        _ => new Fault(kind, rng.Next(c.Links.Count), TimeSpan.FromMilliseconds(rng.Next(500, 4000))),
    };

    /// <summary>Each kind once, shuffled.</summary>
    public static IReadOnlyList<Fault> OneOfEach(Random rng, ChaosCluster c)
    {
        var kinds = Enum.GetValues<FaultKind>();
        rng.Shuffle(kinds);
        return kinds.Select(k => Draw(rng, c, k)).ToList();
    }

    public static Fault Any(Random rng, ChaosCluster c) => Draw(rng, c, Enum.GetValues<FaultKind>()[rng.Next(Enum.GetValues<FaultKind>().Length)]);
}

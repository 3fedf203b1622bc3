using System.Globalization;
using SiteRecovery.Chaos.Tests.Harness;
using Xunit.Abstractions;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The chaos harness (Harness/): srnode and sragent processes, a stamped writer through each agent's NBD export with
/// bookmarks between its writes, SIGKILL / SIGSTOP / partition faults on a seeded schedule, then the latest point and
/// older ones recovered and held to the writes the export acknowledged. CI runs one fault of each kind on a
/// configuration+master-target node, a process server node and one agent. `tests/chaos.sh --minutes M [--seed S]`
/// (SR_CHAOS_MINUTES, SR_CHAOS_SEED, SR_CHAOS_NODES, SR_CHAOS_AGENTS) keeps injecting random faults for that long.
/// </summary>
public sealed class ChaosHarnessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_fault_schedule_loses_and_reorders_no_acknowledged_write()
    {
        var minutes = Number("SR_CHAOS_MINUTES", 0);
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SR_CHAOS_SEED"), out var s) ? s : Random.Shared.Next();
        var options = new ChaosOptions(Nodes: (int)Number("SR_CHAOS_NODES", 2), Agents: (int)Number("SR_CHAOS_AGENTS", 1), minutes, seed,
            OlderPoints: minutes > 0 ? 8 : 3);
        void Log(string line)
        {
            output.WriteLine(line);
            Console.WriteLine(line);
        }
        Log($"chaos: seed {seed}, {options.Nodes} nodes, {options.Agents} agents, {(minutes > 0 ? $"{minutes} minutes of faults" : "one fault of each kind (CI)")}");

        var verdict = await ChaosRun.RunAsync(options, Log);

        Log($"chaos: {verdict.Faults.Count} faults, {verdict.PointsChecked} points recovered and checked, {verdict.Unanswered} writes unanswered (in flight at a fault)");
        Log(verdict.Line);
        Assert.True(verdict.Faults.Count >= 3, $"only {verdict.Faults.Count} faults were injected");
        Assert.True(verdict.Acknowledged > 0 && verdict.PointsChecked >= 2, $"nothing to judge: {verdict.Line}, {verdict.PointsChecked} points");
        Assert.True(verdict.Lost == 0 && verdict.Reordered == 0,
            $"seed {seed}: {verdict.Line}\n{string.Join('\n', verdict.Findings.Take(20))}");
    }

    static double Number(string variable, double otherwise) =>
        double.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : otherwise;
}

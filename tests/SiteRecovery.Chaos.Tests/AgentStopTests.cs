using System.Diagnostics;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// SIGTERM to an agent whose process server is slow to acknowledge: the agent waits for every delta and records a clean
/// state (a failback relies on it), instead of being ended two seconds after the signal by the command-line library.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentStopTests
{
    static Task SignalAsync(int pid, string signal) =>
        ExternalTool.RunAsync("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));

    [Fact]
    public async Task An_agent_stopped_while_its_deltas_wait_for_acknowledgement_drains_past_two_seconds_and_records_a_clean_state()
    {
        using var dir = new TempDir("agent-stop");
        using var node = new Node("n", "all", dir["n"], dir.Path);
        await node.StartAsync();
        var disk = dir["d1.img"];
        await using (var f = new FileStream(disk, FileMode.Create)) f.SetLength(32 << 20);
        using var agent = new Agent("vm1", new Dictionary<string, string> { ["d1"] = disk }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri("d1"), "-c", "write -P 0x21 0 4M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("before", ["d1"], TimeSpan.FromSeconds(60));

        var stopped = false;
        try
        {
            // The process server stops answering; the agent still takes writes into its buffer.
            await SignalAsync(node.Process!.Pid, "STOP");
            stopped = true;
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri("d1"), "-c", "write -P 0x22 8M 4M"], TimeSpan.FromMinutes(1));
            var clock = Stopwatch.StartNew();
            await SignalAsync(agent.Process!.Pid, "TERM");
            await Task.Delay(4000);
            Assert.False(agent.Process.HasExited, $"the agent ended {clock.Elapsed.TotalSeconds:0.0} s after SIGTERM with unacknowledged deltas\n{agent.Logs()}");
            await SignalAsync(node.Process.Pid, "CONT");
            stopped = false;
            var exit = await agent.Process.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.True(exit == 0, $"exit {exit}\n{agent.Logs()}");
            var state = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir["agent"], "d1.state.json")))!;
            Assert.True(state["Clean"]!.GetValue<bool>(), state.ToJsonString());
        }
        finally
        {
            if (stopped) await SignalAsync(node.Process!.Pid, "CONT");
        }
    }
}

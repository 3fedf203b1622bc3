using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// An agent whose clock is a day behind: the node raises the AgentClockSkew alert for its disk (GET /api/alerts, what
/// `srctl alerts` shows), keeps every point (retention goes by the master target's clock), and clears the alert once the
/// agent's clock is right again.
/// </summary>
public sealed class AgentClockSkewTests
{
    const string Disk = "skewed";

    static async Task<JsonNode?> AlertAsync(Node node, bool active)
    {
        var r = await node.Api.GetAsync(active ? "api/alerts?active=true" : "api/alerts");
        return r.Body?["alerts"]?.AsArray().FirstOrDefault(a => a!["kind"]!.GetValue<string>() == "AgentClockSkew" && a["target"]!.GetValue<string>() == Disk);
    }

    static async Task<JsonNode> UntilAsync(Func<Task<JsonNode?>> probe, string what, Node node)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (await probe() is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}\n{node.Logs()}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task An_agent_clock_a_day_behind_raises_the_alert_keeps_its_points_and_a_corrected_clock_clears_it()
    {
        using var dir = new TempDir("clock-skew");
        var config = dir["skew.hocon"];
        await File.WriteAllTextAsync(config, "siterecovery.data-path.master-target { retention-check-interval = 1s, retention-window = 1h, clock-skew-alert = 5m, auto-recovery-point-interval = off }");
        using var node = new Node("cs", "all", dir["n"], dir.Path, null, "--config", config);
        await node.StartAsync();
        await using var agent = new ScriptedAgent(await FakeAgent.ConnectAsync(node.PsPort), Disk, 1L << 20) { ClockShiftMs = -(long)TimeSpan.FromDays(1).TotalMilliseconds };
        await agent.HelloAsync();
        agent.StartReading();
        long last = 0;
        for (var i = 0; i < 5; i++) last = await agent.SendAsync(DeltaKind.Write, i * 4096, new byte[4096]);
        await agent.WaitAckedAsync(last, node);

        var raised = await UntilAsync(() => AlertAsync(node, active: true), "no AgentClockSkew alert was raised", node);
        Assert.Contains("behind the master target's (beyond the 00:05:00 bound", raised["detail"]!.GetValue<string>());
        // By the agent's stamps every point is a day old; by the master target's clock none is: nothing expired.
        await Task.Delay(2500);
        var retention = await node.Api.GetAsync($"api/disks/{Disk}/retention");
        Assert.True(retention.Status == HttpStatusCode.OK, retention.Text);
        Assert.Equal(0, retention.Body!["oldestSequence"]!.GetValue<long>());
        Assert.Equal(last, retention.Body["newestSequence"]!.GetValue<long>());
        var newest = retention.Body["newestTime"]!.GetValue<DateTimeOffset>();
        var newestAgent = retention.Body["newestAgentTime"]!.GetValue<DateTimeOffset>();
        Assert.InRange((newest - newestAgent).TotalHours, 23.9, 24.1);

        // The agent's clock is set right; once the skewed commits are older than the estimate's period, the alert clears.
        agent.ClockShiftMs = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonNode? cleared = null;
        while (cleared is null)
        {
            last = await agent.SendAsync(DeltaKind.Write, 0, new byte[4096]);
            await agent.WaitAckedAsync(last, node);
            if (await AlertAsync(node, active: true) is null) cleared = await AlertAsync(node, active: false);
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the AgentClockSkew alert was not cleared\n{node.Logs()}");
            await Task.Delay(500);
        }
        Assert.NotNull(cleared["clearedAtUnixMs"]);
    }
}

using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// GET /api/machines/{id}/failovers and <c>srctl machine show</c> on a real node: a machine no failover job holds (here
/// not even discovered) has an empty history and is not failed over; a node without the configuration and master-target
/// roles refuses, naming them. The history of real jobs is the saga's, covered by the unit tests of the summary rule.
/// </summary>
public sealed class MachineHistoryApiTests : IDisposable
{
    readonly TempDir _dir = new("machine-history");
    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_machine_without_a_failover_has_an_empty_history_and_srctl_shows_it()
    {
        using var node = new Node("mh", "all", _dir["node"], _dir.Path);
        await node.StartAsync();

        var r = await node.Api.GetAsync("api/machines/vm-x/failovers");
        Assert.True(r.Status == HttpStatusCode.OK, $"status: got {r.Status}, want OK: {r.Text}");
        Assert.Equal("vm-x", r.Body!["machineId"]!.GetValue<string>());
        Assert.Equal("not failed over", r.Body["state"]!.GetValue<string>());
        Assert.Equal("NotFailedOver", r.Body["position"]!.GetValue<string>());
        Assert.Empty(r.Body["failovers"]!.AsArray());

        var srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");
        var shown = await ExternalTool.RunOkAsync("dotnet", [srctl, "machine", "show", "vm-x", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.Contains("vm-x is not discovered", shown.StdOut);
        Assert.Contains("failover: not failed over", shown.StdOut);
        var json = await ExternalTool.RunOkAsync("dotnet", [srctl, "machine", "show", "vm-x", "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        var view = JsonNode.Parse(json.StdOut)!;
        Assert.Equal("NotDiscovered", view["state"]!.GetValue<string>());
        Assert.Equal("not failed over", view["failovers"]!["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_node_without_the_configuration_role_refuses_naming_the_roles()
    {
        using var node = new Node("mh-mt", "process-server,master-target", _dir["mt"], _dir.Path);
        await node.StartAsync();

        var r = await node.Api.GetAsync("api/machines/vm-x/failovers");
        Assert.True(r.Status == HttpStatusCode.BadRequest, $"status: got {r.Status}, want BadRequest: {r.Text}");
        Assert.Contains("configuration and master-target roles", r.Error);
    }
}

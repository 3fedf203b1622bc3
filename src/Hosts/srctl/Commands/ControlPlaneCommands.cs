using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>Set-up commands: vaults and keys, machines. Each prints the node's answer, or its error.</summary>
public static class ControlPlaneCommands
{
    public static Command Vault(Option<string> api, Option<bool> json)
    {
        var vault = new Command("vault", "Vaults and registration keys");
        var name = new Argument<string>("name");
        var region = new Option<string>("--region") { Description = "Azure-style region, e.g. WestEurope", Required = true };
        var create = new Command("create", "Create a vault") { name, region };
        create.SetAction((p, ct) => Run(p, api, json, c => c.PostAsync("api/vaults", new { name = p.GetValue(name), region = p.GetValue(region) }, ct)));
        var keyName = new Argument<string>("name");
        var key = new Command("key", "Issue a registration key (valid 5 days)") { keyName };
        key.SetAction((p, ct) => Run(p, api, json, c => c.PostAsync($"api/vaults/{p.GetValue(keyName)}/keys", new { }, ct)));
        var list = new Command("list", "List vaults");
        list.SetAction((p, ct) => Run(p, api, json, c => c.GetAsync("api/vaults", ct)));
        vault.Add(create); vault.Add(key); vault.Add(list);
        return vault;
    }

    public static Command Machine(Option<string> api, Option<bool> json)
    {
        var machine = new Command("machine", "Protected machines");
        var id = new Argument<string>("id");
        var show = new Command("show", "Show a machine's state, properties, placement and failover history") { id };
        show.SetAction((p, ct) => Show(p, api, json, p.GetValue(id)!, ct));
        var validateId = new Argument<string>("id");
        var validate = new Command("validate", "List every reason a machine cannot be protected") { validateId };
        validate.SetAction((p, ct) => Run(p, api, json, c => c.GetAsync($"api/machines/{p.GetValue(validateId)}/validation", ct)));
        var enableId = new Argument<string>("id");
        var churn = new Option<double>("--churn-mbps") { Description = "Estimated write churn of the machine", DefaultValueFactory = _ => 1 };
        var enable = new Command("enable", "Validate, place (master target with free slots, process server with churn left) and start protection") { enableId, churn };
        enable.SetAction((p, ct) => Run(p, api, json, c => c.PostAsync($"api/machines/{p.GetValue(enableId)}/enable", new { churnMBps = p.GetValue(churn) }, ct)));
        machine.Add(show); machine.Add(validate); machine.Add(enable);
        return machine;
    }

    /// <summary>
    /// The machine's view, then its failover history (where it is, every job of it, the newest job's last lines). A machine
    /// that is not discovered (known only by its agent) still has its history; a node without the failover roles says so.
    /// </summary>
    static async Task<int> Show(ParseResult parse, Option<string> api, Option<bool> json, string machineId, CancellationToken ct)
    {
        using var client = new ApiClient(parse.GetValue(api)!);
        var path = $"api/machines/{Uri.EscapeDataString(machineId)}";
        JsonNode view;
        try { view = await client.GetAsync(path, ct); }
        catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        JsonNode? history = null;
        string? historyError = null;
        try { history = await client.GetAsync($"{path}/failovers", ct); }
        catch (ApiException e) { historyError = e.Message; }
        if (parse.GetValue(json))
        {
            var o = view.AsObject();
            o["failovers"] = history;
            if (historyError is not null) o["failoversError"] = historyError;
            Console.WriteLine(o.ToJsonString());
            return 0;
        }
        if (view["state"]?.ToString() == "NotDiscovered")
            AnsiConsole.MarkupLine($"machine [bold]{Markup.Escape(machineId)}[/] is not discovered (no protection entity on this node)");
        else
            Console.WriteLine(view.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (history is null)
        {
            Console.Error.WriteLine($"srctl: failover history: {historyError}");
            return 0;
        }
        AnsiConsole.MarkupLine($"failover: [bold]{Markup.Escape(history["state"]!.ToString())}[/]");
        var jobs = history["failovers"]!.AsArray();
        if (jobs.Count == 0) return 0;
        var table = new Table().AddColumns("job", "plan", "kind", "status", "opened");
        foreach (var j in jobs)
            table.AddRow(Markup.Escape(j!["jobId"]!.ToString()), Markup.Escape(j["planId"]!.ToString()), Markup.Escape(j["kind"]!.ToString()),
                Markup.Escape(j["status"]!.ToString()), DateTimeOffset.FromUnixTimeMilliseconds(j["openedUnixMs"]!.GetValue<long>()).ToString("yyyy-MM-dd HH:mm:ss'Z'"));
        AnsiConsole.Write(table);
        var lines = jobs[0]!["history"]!.AsArray();
        const int Last = 5;
        AnsiConsole.MarkupLine($"last {Math.Min(Last, lines.Count)} of {lines.Count} history lines of {Markup.Escape(jobs[0]!["jobId"]!.ToString())}:");
        foreach (var line in lines.Skip(Math.Max(0, lines.Count - Last))) AnsiConsole.MarkupLine($"  {Markup.Escape(line!.ToString())}");
        return 0;
    }

    static async Task<int> Run(ParseResult parse, Option<string> api, Option<bool> json, Func<ApiClient, Task<System.Text.Json.Nodes.JsonNode>> call)
    {
        using var client = new ApiClient(parse.GetValue(api)!);
        try
        {
            var r = await call(client);
            Console.WriteLine(parse.GetValue(json) ? r.ToJsonString() : r.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
    }
}

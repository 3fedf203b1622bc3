using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// Recovery plans: <c>plan create</c> (from options or <c>--file plan.json</c>), <c>plan show</c>, <c>plan list</c>,
/// <c>plan delete</c>. Tables by default, the node's JSON with <c>--json</c>. Group numbers on the command line start at 1.
/// </summary>
public static class PlanCommands
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var plan = new Command("plan", "Recovery plans: boot groups in order, with manual and script actions before and after each group");
        plan.Add(CreateCommand(api, json));
        plan.Add(ShowCommand(api, json));
        plan.Add(ListCommand(api, json));
        plan.Add(DeleteCommand(api, json));
        plan.Add(DrillScheduleCommand(api, json));
        return plan;
    }

    static Command CreateCommand(Option<string> api, Option<bool> json)
    {
        var id = new Argument<string>("plan") { Description = "Plan id" };
        var vault = new Option<string?>("--vault") { Description = "Vault the plan belongs to (required unless the file names it)" };
        var groups = new Option<string[]>("--group") { Description = "A boot group: comma-separated machine ids; repeat in boot order" };
        var description = new Option<string?>("--description") { Description = "What the plan is for" };
        var manualBefore = new Option<string[]>("--manual-before") { Description = "GROUP:INSTRUCTIONS, an operator step before group GROUP boots" };
        var manualAfter = new Option<string[]>("--manual-after") { Description = "GROUP:INSTRUCTIONS, an operator step after group GROUP booted" };
        var scriptBefore = new Option<string[]>("--script-before") { Description = "GROUP:SCRIPT, a script (file name in the node's scripts folder) run before group GROUP boots" };
        var scriptAfter = new Option<string[]>("--script-after") { Description = "GROUP:SCRIPT, a script run after group GROUP booted" };
        var timeout = new Option<int?>("--action-timeout") { Description = "Timeout in seconds of every action given by option (1-3600, default 300)" };
        var file = new Option<string?>("--file") { Description = "JSON file with the plan body (description, vault, groups with machines, pre, post); options override its vault and description" };
        var cmd = new Command("create", "Create a recovery plan. Actions given by option run, within a group's before or after list, manual ones first, then scripts; use --file for any other order") { id, vault, groups, description, manualBefore, manualAfter, scriptBefore, scriptAfter, timeout, file };
        cmd.SetAction(async (p, ct) =>
        {
            JsonObject body;
            try
            {
                body = p.GetValue(file) is { } path
                    ? FromFile(path)
                    : FromOptions(p.GetValue(groups) ?? [], p.GetValue(manualBefore) ?? [], p.GetValue(manualAfter) ?? [],
                        p.GetValue(scriptBefore) ?? [], p.GetValue(scriptAfter) ?? [], p.GetValue(timeout));
            }
            catch (Exception e) when (e is ArgumentException or IOException or System.Text.Json.JsonException)
            {
                Console.Error.WriteLine($"srctl: {e.Message}");
                return 2;
            }

            body["planId"] = p.GetValue(id);
            if (p.GetValue(vault) is { } v) body["vault"] = v;
            if (p.GetValue(description) is { } d) body["description"] = d;
            return await Run(p, api, json, async c =>
            {
                var r = await c.PostAsync("api/recovery-plans", body, ct);
                if (p.GetValue(json)) return r;
                AnsiConsole.MarkupLine(r["events"]?.GetValue<int>() == 0
                    ? $"plan [bold]{Markup.Escape(p.GetValue(id)!)}[/] already exists with this content"
                    : $"created plan [bold]{Markup.Escape(p.GetValue(id)!)}[/]");
                return null;
            });
        });
        return cmd;
    }

    static Command ShowCommand(Option<string> api, Option<bool> json)
    {
        var id = new Argument<string>("plan") { Description = "Plan id" };
        var cmd = new Command("show", "Show a plan: its groups in boot order with their actions") { id };
        cmd.SetAction((p, ct) => Run(p, api, json, async c =>
        {
            var r = await c.GetAsync($"api/recovery-plans/{Uri.EscapeDataString(p.GetValue(id)!)}", ct);
            if (p.GetValue(json)) return r;
            AnsiConsole.MarkupLine($"plan [bold]{Markup.Escape(r["planId"]!.ToString())}[/] in vault {Markup.Escape(r["vault"]?.ToString() ?? "-")}, version {r["version"]}"
                                   + (r["description"] is { } desc ? $": {Markup.Escape(desc.ToString())}" : ""));
            if (r["drillEvery"] is { } drillEvery)
                AnsiConsole.MarkupLine($"drilled every {Markup.Escape(drillEvery.ToString())}, machines kept {Markup.Escape(r["drillTtl"]?.ToString() ?? "-")}");
            var table = new Table().AddColumns("group", "machines", "before", "after");
            var n = 0;
            foreach (var g in r["groups"]!.AsArray())
                table.AddRow((++n).ToString(), Markup.Escape(string.Join(", ", g!["machines"]!.AsArray().Select(m => m!.ToString()))),
                    Actions(g["pre"]), Actions(g["post"]));
            AnsiConsole.Write(table);
            return null;
        }));
        return cmd;
    }

    static Command ListCommand(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("list", "List recovery plans");
        cmd.SetAction((p, ct) => Run(p, api, json, async c =>
        {
            var r = await c.GetAsync("api/recovery-plans", ct);
            if (p.GetValue(json)) return r;
            var table = new Table().AddColumns("plan", "vault");
            foreach (var plan in r["plans"]!.AsArray())
                table.AddRow(Markup.Escape(plan!["planId"]!.ToString()), Markup.Escape(plan["vault"]!.ToString()));
            AnsiConsole.Write(table);
            return null;
        }));
        return cmd;
    }

    static Command DeleteCommand(Option<string> api, Option<bool> json)
    {
        var id = new Argument<string>("plan") { Description = "Plan id" };
        var cmd = new Command("delete", "Delete a recovery plan") { id };
        cmd.SetAction((p, ct) => Run(p, api, json, async c =>
        {
            var r = await c.DeleteAsync($"api/recovery-plans/{Uri.EscapeDataString(p.GetValue(id)!)}", ct);
            if (p.GetValue(json)) return r;
            AnsiConsole.MarkupLine($"deleted plan [bold]{Markup.Escape(p.GetValue(id)!)}[/]");
            return null;
        }));
        return cmd;
    }

    static Command DrillScheduleCommand(Option<string> api, Option<bool> json)
    {
        var id = new Argument<string>("plan") { Description = "Plan id" };
        var every = new Option<string?>("--every") { Description = "Drill the plan this often, e.g. 7d, 12h, 90m (at least the node's drill-minimum-interval, 1h by default)" };
        var ttl = new Option<string?>("--ttl") { Description = "How long a drill's machines run before its cleanup, e.g. 30m (default 30m)" };
        var off = new Option<bool>("--off") { Description = "Remove the plan's drill schedule" };
        var cmd = new Command("drill-schedule", "Drill a plan by itself: a test failover to the latest point every --every, cleaned up after --ttl; a failed drill raises a DrillFailed alert") { id, every, ttl, off };
        cmd.SetAction(async (p, ct) =>
        {
            long? everySeconds = null, ttlSeconds = null;
            try
            {
                if (p.GetValue(off) == (p.GetValue(every) is not null)) throw new ArgumentException("give --every (and optionally --ttl), or --off");
                if (p.GetValue(every) is { } e) everySeconds = (long)ParseDuration("--every", e).TotalSeconds;
                if (p.GetValue(ttl) is { } t) ttlSeconds = (long)ParseDuration("--ttl", t).TotalSeconds;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"srctl: {e.Message}");
                return 2;
            }
            return await Run(p, api, json, async c =>
            {
                var r = await c.PutAsync($"api/recovery-plans/{Uri.EscapeDataString(p.GetValue(id)!)}/drill-schedule",
                    new { everySeconds, ttlSeconds }, ct);
                if (p.GetValue(json)) return r;
                AnsiConsole.MarkupLine(everySeconds is null
                    ? $"plan [bold]{Markup.Escape(p.GetValue(id)!)}[/] has no drill schedule"
                    : $"plan [bold]{Markup.Escape(p.GetValue(id)!)}[/] is drilled every {TimeSpan.FromSeconds(everySeconds.Value)}, machines kept {TimeSpan.FromSeconds(ttlSeconds ?? 1800)}");
                return null;
            });
        });
        return cmd;
    }

    /// <summary>A duration of whole units: <c>30s</c>, <c>90m</c>, <c>12h</c>, <c>7d</c>, <c>2w</c>, or a sum like <c>1h30m</c>.</summary>
    internal static TimeSpan ParseDuration(string option, string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(?:(\d{1,6})([smhdw]))+$");
        if (!m.Success) throw new ArgumentException($"{option}: '{text}' is not a duration (e.g. 30s, 90m, 12h, 7d, 2w, 1h30m)");
        var total = TimeSpan.Zero;
        for (var i = 0; i < m.Groups[1].Captures.Count; i++)
        {
            var n = long.Parse(m.Groups[1].Captures[i].Value, System.Globalization.CultureInfo.InvariantCulture);
            total += m.Groups[2].Captures[i].Value switch
            {
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                "d" => TimeSpan.FromDays(n),
                _ => TimeSpan.FromDays(7 * n),
            };
        }
        return total > TimeSpan.Zero ? total : throw new ArgumentException($"{option}: '{text}' must be longer than zero");
    }

    static string Actions(JsonNode? actions)
    {
        var lines = (actions?.AsArray() ?? []).Select(a =>
        {
            var kind = a!["kind"]?.ToString();
            var what = kind == "script" ? a["script"]?.ToString() : a["instructions"]?.ToString();
            return $"[[{Markup.Escape(kind ?? "?")}]] {Markup.Escape(a["name"]?.ToString() ?? "")}: {Markup.Escape(what ?? "")} ({a["timeoutSeconds"]} s)";
        }).ToList();
        return lines.Count == 0 ? "-" : string.Join("\n", lines);
    }

    static JsonObject FromFile(string path)
    {
        var node = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                   ?? throw new ArgumentException($"--file {path}: must hold a JSON object with groups");
        return node;
    }

    /// <summary>The create body from the options; action names are <c>group{N}-before-{k}</c> / <c>group{N}-after-{k}</c>.</summary>
    internal static JsonObject FromOptions(string[] groups, string[] manualBefore, string[] manualAfter, string[] scriptBefore, string[] scriptAfter, int? timeout)
    {
        if (groups.Length == 0) throw new ArgumentException("--group: give at least one boot group (comma-separated machine ids), or --file");
        var built = groups.Select(g => new JsonObject
        {
            ["machines"] = new JsonArray(g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
            ["pre"] = new JsonArray(),
            ["post"] = new JsonArray(),
        }).ToList();

        void Add(string[] specs, string option, string list, string kind)
        {
            foreach (var spec in specs)
            {
                var colon = spec.IndexOf(':');
                if (colon <= 0 || !int.TryParse(spec[..colon], out var n) || n < 1 || n > built.Count)
                    throw new ArgumentException($"{option} '{spec}': must be GROUP:TEXT with GROUP 1..{built.Count}");
                var text = spec[(colon + 1)..];
                var actions = built[n - 1][list]!.AsArray();
                actions.Add(new JsonObject
                {
                    ["kind"] = kind,
                    ["name"] = $"group{n}-{(list == "pre" ? "before" : "after")}-{actions.Count + 1}",
                    ["instructions"] = kind == "manual" ? text : null,
                    ["script"] = kind == "script" ? text : null,
                    ["timeoutSeconds"] = timeout,
                });
            }
        }

        Add(manualBefore, "--manual-before", "pre", "manual");
        Add(scriptBefore, "--script-before", "pre", "script");
        Add(manualAfter, "--manual-after", "post", "manual");
        Add(scriptAfter, "--script-after", "post", "script");
        return new JsonObject { ["groups"] = new JsonArray(built.Select(g => (JsonNode)g).ToArray()) };
    }

    /// <summary>Runs a call; a returned node is printed as JSON (the call printed a table itself otherwise).</summary>
    static async Task<int> Run(ParseResult parse, Option<string> api, Option<bool> json, Func<ApiClient, Task<JsonNode?>> call)
    {
        using var client = new ApiClient(parse.GetValue(api)!);
        try
        {
            if (await call(client) is { } r) Console.WriteLine(r.ToJsonString());
            return 0;
        }
        catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
    }
}

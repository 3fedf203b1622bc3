using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

public static class BookmarkCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var disks = new Option<string[]>("--disk") { Description = "Disk id (repeat for a bookmark across disks of one agent)" };
        var name = new Option<string?>("--name") { Description = "Bookmark id (default: bm-<time>)" };
        var group = new Option<string?>("--group") { Description = "Protection group id: one bookmark across every disk of every member machine (two phases: hold, then mark and release)" };
        var machines = new Option<string[]>("--machine") { Description = "Machine (agent) id for a group bookmark without a protection group (repeat)" };
        var kind = new Option<string>("--kind") { Description = "crash or app (app runs each agent's freeze hooks; a failed freeze gives a flagged crash-consistent point)", DefaultValueFactory = _ => "crash" };
        var timeout = new Option<int?>("--timeout-ms") { Description = "The whole budget, waiting meanwhile for a resync to finish (disk bookmark: default 30000; group bookmark: default 10000, also the agents' hold lease)" };
        var cmd = new Command("bookmark", "Take a bookmark: a marker in each disk's ordered stream, durable at the target when this returns; with --group or --machine, one consistent cut across machines")
            { disks, name, group, machines, kind, timeout };
        cmd.SetAction(async (parse, ct) =>
        {
            var groupId = parse.GetValue(group);
            var machineIds = parse.GetValue(machines) ?? [];
            var diskIds = parse.GetValue(disks) ?? [];
            var picked = (groupId is null ? 0 : 1) + (machineIds.Length > 0 ? 1 : 0) + (diskIds.Length > 0 ? 1 : 0);
            if (picked != 1) { Console.Error.WriteLine("srctl: give exactly one of --disk, --group or --machine"); return 2; }
            var k = parse.GetValue(kind);
            if (k is not ("crash" or "app")) { Console.Error.WriteLine($"srctl: --kind: '{k}' is not one of crash, app"); return 2; }
            if (diskIds.Length > 0 && k != "crash") { Console.Error.WriteLine("srctl: --kind app needs --group or --machine (the freeze runs in the group bookmark's first phase)"); return 2; }
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                if (diskIds.Length > 0)
                {
                    var r = await client.PostAsync("api/bookmarks", new { name = parse.GetValue(name), disks = diskIds, timeoutSeconds = parse.GetValue(timeout) is { } ms ? (int?)Math.Max(1, (ms + 999) / 1000) : null }, ct);
                    if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                    var t = new Table().AddColumns("disk", "sequence");
                    foreach (var (disk, seq) in r["sequences"]!.AsObject()) t.AddRow(Markup.Escape(disk), seq!.ToString());
                    AnsiConsole.MarkupLine($"bookmark [bold]{Markup.Escape(r["bookmarkId"]!.ToString())}[/]");
                    AnsiConsole.Write(t);
                    return 0;
                }
                var bookmark = parse.GetValue(name) ?? $"gbm-{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}";
                var g = groupId is null
                    ? await client.PostAsync("api/group-bookmarks", new { bookmark, machines = machineIds, kind = k, timeoutMs = parse.GetValue(timeout) }, ct)
                    : await client.PostAsync($"api/protection-groups/{Uri.EscapeDataString(groupId)}/bookmarks", new { bookmark, kind = k, timeoutMs = parse.GetValue(timeout) }, ct);
                if (parse.GetValue(json)) { Console.WriteLine(g.ToJsonString()); return 0; }
                var table = new Table().AddColumns("disk", "held", "marker");
                foreach (var (disk, seq) in g["sequences"]!.AsObject())
                    table.AddRow(Markup.Escape(disk), g["held"]?[disk]?.ToString() ?? "", seq!.ToString());
                AnsiConsole.MarkupLine($"group bookmark [bold]{Markup.Escape(bookmark)}[/]: {Markup.Escape(g["kind"]?.ToString() ?? "")}, write stall {g["stallMs"]!.GetValue<double>():0.##} ms");
                if (g["appConsistencyFailure"]?.ToString() is { Length: > 0 } why)
                    AnsiConsole.MarkupLine($"[yellow]application consistency failed[/]: {Markup.Escape(why)}");
                AnsiConsole.Write(table);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

public static class AlertsCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var active = new Option<bool>("--active") { Description = "Only alerts that are raised now" };
        var cmd = new Command("alerts", "Show alerts: RPO over threshold (disk, machine), process server cache over high-water, master target out of slots, application consistency failed, disk replication stopped by a storage fault") { active };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync($"api/alerts?active={parse.GetValue(active).ToString().ToLowerInvariant()}", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var t = new Table().AddColumns("kind", "target", "state", "raised", "cleared", "detail");
                foreach (var a in r["alerts"]!.AsArray())
                {
                    var isActive = a!["active"]!.GetValue<bool>();
                    t.AddRow(StatusCommand.Esc(a["kind"]), StatusCommand.Esc(a["target"]), isActive ? "[red]active[/]" : "[green]cleared[/]",
                        StatusCommand.Time(a["raisedAtUnixMs"]), StatusCommand.Time(a["clearedAtUnixMs"]), StatusCommand.Esc(a["detail"]));
                }
                AnsiConsole.Write(t);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

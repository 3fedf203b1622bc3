using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

public static class JobsCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var running = new Option<bool>("--running") { Description = "Only jobs still running" };
        var cmd = new Command("jobs", "Show long operations (registration, enabling protection, initial replication, resyncs) and their state") { running };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync($"api/jobs?running={parse.GetValue(running).ToString().ToLowerInvariant()}", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var t = new Table().AddColumns("kind", "target", "state", "started", "ended", "detail / error");
                foreach (var j in r["jobs"]!.AsArray())
                {
                    var state = j!["state"]!.ToString();
                    var color = state switch { "Succeeded" => "green", "Failed" => "red", _ => "yellow" };
                    t.AddRow(StatusCommand.Esc(j["kind"]), StatusCommand.Esc(j["target"]), $"[{color}]{state}[/]",
                        StatusCommand.Time(j["startedUnixMs"]), StatusCommand.Time(j["endedUnixMs"]), StatusCommand.Esc(j["error"] ?? j["detail"]));
                }
                AnsiConsole.Write(t);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

public static class StatusCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("status", "Show the node, its protected disks and the process server cache");
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var status = await client.GetAsync("api/status", ct);
                if (parse.GetValue(json)) { Console.WriteLine(status.ToJsonString()); return 0; }
                AnsiConsole.MarkupLine($"[bold]node[/] {Markup.Escape(status["nodeId"]!.ToString())}  roles {Markup.Escape(status["roles"]!.ToString())}  journal {Markup.Escape(status["journal"]!.ToString())}");
                var disks = new Table().AddColumns("disk", "size", "applied #", "state", "RPO s", "points", "last bookmark");
                foreach (var d in status["disks"]!.AsArray())
                    disks.AddRow(Esc(d!["disk"]), $"{d["sizeBytes"]!.GetValue<long>() >> 20} MiB", Esc(d["appliedThrough"]), Esc(d["state"]), Esc(d["rpoSeconds"]), Esc(d["recoveryPoints"]), Esc(d["lastBookmark"]));
                AnsiConsole.Write(disks);
                var cache = new Table().AddColumns("disk", "spooled #", "durable #", "target acked #", "cache MiB");
                foreach (var c in status["cache"]!.AsArray())
                    cache.AddRow(Esc(c!["disk"]), Esc(c["spooled"]), Esc(c["durable"]), Esc(c["targetAcked"]), $"{c["cacheBytes"]!.GetValue<long>() / 1048576.0:0.0}");
                if (status["cache"]!.AsArray().Count > 0) AnsiConsole.Write(cache);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }

    internal static string Time(System.Text.Json.Nodes.JsonNode? unixMs) =>
        unixMs is null ? "-" : DateTimeOffset.FromUnixTimeMilliseconds(unixMs.GetValue<long>()).ToString("HH:mm:ss");

    internal static string Esc(System.Text.Json.Nodes.JsonNode? n) => Markup.Escape(n?.ToString() ?? "-");
}

using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// <c>srctl resync --disk D --reason TEXT</c>: the agent compares the whole disk with its replica (block hashes) and
/// resends what differs, with reason OperatorRequest; it shows as a resync job (<c>srctl jobs</c>) and no point is
/// taken until it completes.
/// </summary>
public static class ResyncCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var disk = new Option<string>("--disk") { Description = "Disk id", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why (logged with the resync)", Required = true };
        var cmd = new Command("resync", "Compare a disk with its replica and resend what differs (an operator's resync, shown as a job)") { disk, reason };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var id = parse.GetValue(disk)!;
                var r = await client.PostAsync($"api/disks/{Uri.EscapeDataString(id)}/resync", new { reason = parse.GetValue(reason) }, ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                AnsiConsole.MarkupLine($"resync of [bold]{Markup.Escape(id)}[/] started after #{r["afterSequence"]} (OperatorRequest: {Markup.Escape(r["why"]!.ToString())}); follow it with srctl jobs");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

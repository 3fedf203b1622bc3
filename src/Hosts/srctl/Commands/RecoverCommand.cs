using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

public static class RecoverCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var disk = new Option<string>("--disk") { Description = "Disk id", Required = true };
        var bookmark = new Option<string?>("--bookmark") { Description = "Recovery point (bookmark id)" };
        var sequence = new Option<long?>("--sequence") { Description = "Recover as of this sequence instead of a bookmark" };
        var time = new Option<string?>("--time") { Description = "Recover as of this UTC time (ISO-8601, e.g. 2026-11-25T20:15:00Z): the last write at or before it, within the retention window" };
        var output = new Option<string?>("--out") { Description = "Image file to write on the master target's node: a name under its --recovery-dir (default <data>/recovered), or a path inside it; it must not exist" };
        var source = new Option<string?>("--from")
        {
            Description = "Where the point is read from: retention (the master target's base image and journal, the default) or snapshot (the replica's page-blob snapshot in blob storage and the journal after it)",
        };
        var blob = new Option<string?>("--blob") { Description = "Instead of --out, with --from snapshot: write the point as this new page blob (a fixed VHD, name ending in .vhd) beside the disk's replica; it must not exist" };
        var cmd = new Command("recover", "Write a disk's image as of a recovery point into a file, or into a new page blob") { disk, bookmark, sequence, time, output, source, blob };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.PostAsync("api/recover", new
                {
                    disk = parse.GetValue(disk),
                    bookmark = parse.GetValue(bookmark),
                    sequence = parse.GetValue(sequence),
                    time = parse.GetValue(time),
                    // As given: the node resolves a relative name under its own recovery directory, not this machine's.
                    output = parse.GetValue(output),
                    from = parse.GetValue(source),
                    blob = parse.GetValue(blob),
                }, ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var read = r["snapshot"] is { } snapshot ? $" from the replica's snapshot at #{snapshot} and the journal after it" : "";
                if (r["blob"] is { } uri)
                {
                    AnsiConsole.MarkupLine($"recovered [bold]{Markup.Escape(r["disk"]!.ToString())}[/] at #{r["sequence"]}{read} into page blob {Markup.Escape(uri.ToString())}");
                    AnsiConsole.MarkupLine($"{r["bytes"]} bytes uploaded, {r["deltas"]} journal records read, in {r["seconds"]!.GetValue<double>():0.00} s");
                }
                else
                {
                    AnsiConsole.MarkupLine($"recovered [bold]{Markup.Escape(r["disk"]!.ToString())}[/] at #{r["sequence"]}{read} into {Markup.Escape(r["output"]!.ToString())}");
                    AnsiConsole.MarkupLine($"sha256 {r["sha256"]}  ({r["deltas"]} deltas replayed in {r["seconds"]!.GetValue<double>():0.00} s)");
                }
                if (r["receivedTime"] is { } received)
                    AnsiConsole.MarkupLine(Markup.Escape($"received by the master target {received} (agent's stamp {r["agentTime"]?.ToString() ?? "-"})"));
                if (r["note"] is { } note) AnsiConsole.MarkupLine(Markup.Escape(note.ToString()));
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

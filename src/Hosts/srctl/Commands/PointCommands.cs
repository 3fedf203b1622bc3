using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// What a disk's retention offers: <c>retention</c> shows the recoverable range, <c>export</c> serves a point over NBD
/// (read-only, or copy-on-write for a test failover) without materializing it.
/// </summary>
public static class PointCommands
{
    public static Command Retention(Option<string> api, Option<bool> json)
    {
        var disk = new Option<string>("--disk") { Description = "Disk id", Required = true };
        var cmd = new Command("retention", "Show the range of points a disk can be recovered to") { disk };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync($"api/disks/{Uri.EscapeDataString(parse.GetValue(disk)!)}/retention", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                // Times are the master target's receive times (retention goes by them); the agent's stamps are beside them.
                var table = new Table().AddColumns("disk", "oldest", "oldest time", "agent's stamp", "newest", "newest time", "agent's stamp", "checkpoints", "open views");
                table.AddRow(Markup.Escape(r["disk"]!.ToString()), $"#{r["oldestSequence"]}", Markup.Escape(r["oldestTime"]?.ToString() ?? "-"),
                    Markup.Escape(r["oldestAgentTime"]?.ToString() ?? "-"),
                    $"#{r["newestSequence"]}", Markup.Escape(r["newestTime"]?.ToString() ?? "-"), Markup.Escape(r["newestAgentTime"]?.ToString() ?? "-"),
                    r["checkpoints"]!.AsArray().Count.ToString(), r["openViews"]!.ToString());
                AnsiConsole.Write(table);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }

    public static Command Export(Option<string> api, Option<bool> json)
    {
        var disk = new Option<string>("--disk") { Description = "Disk id", Required = true };
        var bookmark = new Option<string?>("--bookmark") { Description = "Point to serve (bookmark id)" };
        var sequence = new Option<long?>("--sequence") { Description = "Point to serve (sequence)" };
        var time = new Option<string?>("--time") { Description = "Point to serve (UTC time, ISO-8601)" };
        var writable = new Option<bool>("--writable") { Description = "Copy-on-write: writes go to an overlay that is discarded with the export" };
        var listen = new Option<string?>("--listen") { Description = "NBD listen address HOST:PORT on the master target (default 127.0.0.1:0)" };
        var list = new Option<bool>("--list") { Description = "List the disk's open exports" };
        var close = new Option<string?>("--close") { Description = "Close this export (its overlay is discarded)" };
        var source = new Option<string?>("--from")
        {
            Description = "Where the point is read from: retention (the master target's base image and journal, the default) or snapshot (the replica's page-blob snapshot in blob storage and the journal after it)",
        };
        var cmd = new Command("export", "Serve a point of a disk over NBD without materializing it") { disk, bookmark, sequence, time, writable, listen, list, close, source };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            var path = $"api/disks/{Uri.EscapeDataString(parse.GetValue(disk)!)}/exports";
            try
            {
                if (parse.GetValue(list))
                {
                    var all = await client.GetAsync(path, ct);
                    if (parse.GetValue(json)) { Console.WriteLine(all.ToJsonString()); return 0; }
                    var table = new Table().AddColumns("export", "sequence", "writable", "uri", "overlay bytes");
                    foreach (var e in all.AsArray())
                        table.AddRow(Markup.Escape(e!["exportId"]!.ToString()), $"#{e["sequence"]}", e["writable"]!.ToString(), Markup.Escape(e["uri"]!.ToString()), e["overlayBytes"]!.ToString());
                    AnsiConsole.Write(table);
                    return 0;
                }
                if (parse.GetValue(close) is { } id)
                {
                    var closed = await client.DeleteAsync($"{path}/{Uri.EscapeDataString(id)}", ct);
                    if (parse.GetValue(json)) Console.WriteLine(closed.ToJsonString());
                    else AnsiConsole.MarkupLine($"closed export [bold]{Markup.Escape(id)}[/]");
                    return 0;
                }
                var r = await client.PostAsync(path, new
                {
                    bookmark = parse.GetValue(bookmark),
                    sequence = parse.GetValue(sequence),
                    time = parse.GetValue(time),
                    writable = parse.GetValue(writable),
                    listen = parse.GetValue(listen),
                    from = parse.GetValue(source),
                }, ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                AnsiConsole.MarkupLine($"export [bold]{Markup.Escape(r["exportId"]!.ToString())}[/] of {Markup.Escape(r["disk"]!.ToString())} at #{r["sequence"]} " +
                                       $"({(r["writable"]!.GetValue<bool>() ? "copy-on-write" : "read-only")}" +
                                       $"{(r["snapshot"] is { } snapshot ? $", read from the replica's snapshot at #{snapshot} and the journal after it" : "")}): {Markup.Escape(r["uri"]!.ToString())}");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

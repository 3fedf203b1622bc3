using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

public static class BookmarkCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var disks = new Option<string[]>("--disk") { Description = "Disk id (repeat for a bookmark across disks of one agent)", Required = true };
        var name = new Option<string?>("--name") { Description = "Bookmark id (default: bm-<time>)" };
        var cmd = new Command("bookmark", "Take a crash-consistent bookmark: a marker in each disk's ordered stream, durable at the target when this returns") { disks, name };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.PostAsync("api/bookmarks", new { name = parse.GetValue(name), disks = parse.GetValue(disks) }, ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var t = new Table().AddColumns("disk", "sequence");
                foreach (var (disk, seq) in r["sequences"]!.AsObject()) t.AddRow(Markup.Escape(disk), seq!.ToString());
                AnsiConsole.MarkupLine($"bookmark [bold]{Markup.Escape(r["bookmarkId"]!.ToString())}[/]");
                AnsiConsole.Write(t);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary><c>srctl cluster members|leave|down</c>: the Akka.Cluster membership as the node asked sees it, and ending a member's.</summary>
public static class ClusterCommands
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("cluster", "The node's cluster: members, and making a member leave or declaring it down");

        var members = new Command("members", "Every member: address, status, roles, leader and oldest marks, reachability as this node sees it");
        members.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync("api/cluster/members", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var t = new Table().AddColumns("address", "status", "roles", "marks", "reachability");
                foreach (var m in r["members"]!.AsArray())
                {
                    var marks = new List<string>();
                    if (m!["leader"]!.GetValue<bool>()) marks.Add("leader");
                    if (m["oldest"]!.GetValue<bool>()) marks.Add("oldest");
                    if (m["self"]!.GetValue<bool>()) marks.Add("this node");
                    var status = m["status"]!.GetValue<string>();
                    t.AddRow(StatusCommand.Esc(m["endpoint"]), status == "up" ? "[green]up[/]" : $"[yellow]{Markup.Escape(status)}[/]",
                        Markup.Escape(string.Join(", ", m["roles"]!.AsArray().Select(x => x!.GetValue<string>()))), Markup.Escape(string.Join(", ", marks)),
                        m["reachable"]!.GetValue<bool>() ? "reachable" : "[red]unreachable[/]");
                }
                AnsiConsole.Write(t);
                var sbr = r["splitBrainResolver"]!;
                AnsiConsole.MarkupLine($"split-brain resolver: {StatusCommand.Esc(sbr["strategy"])}, decides after {sbr["stableAfterMs"]!.GetValue<long>() / 1000.0:0.#} s of stable membership");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });

        cmd.Add(members);
        cmd.Add(Act(api, json, "leave", "Make a member leave: it hands over, stops its data path and exits (0)"));
        cmd.Add(Act(api, json, "down", "Declare a member down (one that cannot leave: dead or cut off): the cluster removes it, and if it still runs it stops its data path and exits (3)"));
        return cmd;
    }

    static Command Act(Option<string> api, Option<bool> json, string action, string description)
    {
        var address = new Argument<string>("address") { Description = "The member's address: HOST:PORT or akka.tcp://siterecovery@HOST:PORT (srctl cluster members)" };
        var cmd = new Command(action, description) { address };
        cmd.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.PostAsync($"api/cluster/{action}", new { address = parse.GetValue(address) }, ct);
                Console.WriteLine(parse.GetValue(json) ? r.ToJsonString() : $"{action} asked of {r["address"]}: srctl cluster members shows it go");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return cmd;
    }
}

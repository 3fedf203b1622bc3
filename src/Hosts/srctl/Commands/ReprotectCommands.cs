using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// <c>srctl reprotect JOB --process-server HOST:PORT --original-api URL</c>, <c>srctl failback JOB [--no-return]</c> and
/// <c>srctl return JOB</c>: after a committed failover, protect the machines back to the original site (only what changed
/// since the failover moves), then fail them back (they stop here and drain; the original site's disks then hold every
/// write) and return them (they start there again, replicating to this site, only what changed meanwhile moving).
/// </summary>
public static class ReprotectCommands
{
    public static Command Reprotect(Option<string> api, Option<bool> json)
    {
        var job = new Argument<string>("job") { Description = "A committed planned or unplanned failover job" };
        var ps = new Option<string>("--process-server") { Description = "The original site's process server, HOST:PORT", Required = true };
        var original = new Option<string>("--original-api") { Description = "API URL of the node running the original site's master target (its replicas are the machines' original disks: srnode --replica-file)", Required = true };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the reprotect is started" };
        var cmd = new Command("reprotect", "Protect a committed failover's machines back to the original site: an agent here serves their disks, the first sync compares block hashes with the original disks and moves only what changed") { job, ps, original, noWait };
        cmd.SetAction((parse, ct) => FailoverCommands.Run(api, parse, async client =>
        {
            var id = parse.GetValue(job)!;
            await client.PostAsync($"api/failovers/{Uri.EscapeDataString(id)}/reprotect", new { processServer = parse.GetValue(ps), api = parse.GetValue(original) }, ct);
            return await FollowAsync(client, id, parse.GetValue(json), parse.GetValue(noWait), ["Reprotecting"], "Reprotected", "reprotecting: comparing the disks with the original site", ct);
        }));
        return cmd;
    }

    public static Command Failback(Option<string> api, Option<bool> json)
    {
        var job = new Argument<string>("job") { Description = "A reprotected failover job" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the failback is started" };
        var noReturn = new Option<bool>("--no-return") { Description = "Leave the machines' disks at the original site instead of starting the machines there" };
        var cmd = new Command("failback", "The planned failover back: the machines stop here, every write drains to the original site, and they start there again on their original disks, replicating to this site (only what changed moves)") { job, noWait, noReturn };
        cmd.SetAction((parse, ct) => FailoverCommands.Run(api, parse, async client =>
        {
            var id = parse.GetValue(job)!;
            var back = !parse.GetValue(noReturn);
            await client.PostAsync($"api/failovers/{Uri.EscapeDataString(id)}/failback", new { @return = back }, ct);
            return back
                ? await FollowAsync(client, id, parse.GetValue(json), parse.GetValue(noWait), ["FailingBack", "Returning"], "Returned", "failing back: draining to the original site, then starting the machines there", ct)
                : await FollowAsync(client, id, parse.GetValue(json), parse.GetValue(noWait), ["FailingBack"], "FailedBack", "failing back: stopping the machines and draining to the original site", ct);
        }));
        return cmd;
    }

    public static Command Return(Option<string> api, Option<bool> json)
    {
        var job = new Argument<string>("job") { Description = "A failed-back failover job whose machines did not start at the original site" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the return is started" };
        var cmd = new Command("return", "Start a failed-back job's machines at the original site on their original disks, replicating to this site again") { job, noWait };
        cmd.SetAction((parse, ct) => FailoverCommands.Run(api, parse, async client =>
        {
            var id = parse.GetValue(job)!;
            await client.PostAsync($"api/failovers/{Uri.EscapeDataString(id)}/return", new { }, ct);
            return await FollowAsync(client, id, parse.GetValue(json), parse.GetValue(noWait), ["Returning"], "Returned", "returning: starting the machines at the original site", ct);
        }));
        return cmd;
    }

    static async Task<int> FollowAsync(ApiClient client, string id, bool json, bool noWait, string[] busy, string done, string what, CancellationToken ct)
    {
        var path = $"api/failovers/{Uri.EscapeDataString(id)}";
        JsonNode view = await client.GetAsync(path, ct);
        if (!noWait)
        {
            async Task Poll()
            {
                while (busy.Contains(view["status"]!.ToString())) { await Task.Delay(500, ct); view = await client.GetAsync(path, ct); }
            }
            if (json) await Poll();
            else await AnsiConsole.Status().StartAsync(what, async _ => await Poll());
        }
        if (json) Console.WriteLine(view.ToJsonString());
        else FailoverCommands.ShowJob(view);
        var status = view["status"]!.ToString();
        return status == done || noWait && busy.Contains(status) ? 0 : 1;
    }
}

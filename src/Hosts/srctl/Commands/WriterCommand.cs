using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// <c>srctl writer show|release|keep DISK</c>: a disk's one writer identity at its process server. <c>release</c> lets
/// the next agent that says hello for the disk bind it (a machine reinstalled with a new agent); <c>keep</c> keeps the
/// bound writer and clears the DiskWriterRefused alert (the refused one was an impostor or a mistake, now stopped).
/// </summary>
public static class WriterCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("writer", "A disk's writer identity at its process server: show, release (let a new agent bind), keep (clear the refusal alert)");
        cmd.Add(Sub("show", "Show the disk's bound writer (fingerprint, epoch, source)", api, json, async (client, id, ct) =>
        {
            var r = await client.GetAsync($"api/disks/{Uri.EscapeDataString(id)}/writer", ct);
            return (r, $"disk [bold]{Markup.Escape(id)}[/]: writer {r["fingerprint"]} (source {Markup.Escape(r["source"]!.ToString())}, epoch {r["epoch"]})");
        }));
        cmd.Add(Sub("release", "Release the disk's writer binding: the next agent that says hello for it binds (a reinstalled machine)", api, json, async (client, id, ct) =>
        {
            var r = await client.PostAsync($"api/disks/{Uri.EscapeDataString(id)}/writer/release", new { }, ct);
            return (r, $"disk [bold]{Markup.Escape(id)}[/]: writer {r["fingerprint"]} released; the next agent to connect for it binds");
        }));
        cmd.Add(Sub("keep", "Keep the disk's bound writer and clear its writer-refused alert", api, json, async (client, id, ct) =>
        {
            var r = await client.PostAsync($"api/disks/{Uri.EscapeDataString(id)}/writer/keep", new { }, ct);
            return (r, $"disk [bold]{Markup.Escape(id)}[/]: writer {r["fingerprint"]} kept; refusal alert cleared");
        }));
        return cmd;
    }

    static Command Sub(string name, string description, Option<string> api, Option<bool> json,
        Func<ApiClient, string, CancellationToken, Task<(System.Text.Json.Nodes.JsonNode Reply, string Text)>> run)
    {
        var disk = new Argument<string>("disk") { Description = "Disk id" };
        var sub = new Command(name, description) { disk };
        sub.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var (reply, text) = await run(client, parse.GetValue(disk)!, ct);
                if (parse.GetValue(json)) Console.WriteLine(reply.ToJsonString());
                else AnsiConsole.MarkupLine(text);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return sub;
    }
}

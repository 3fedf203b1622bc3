using System.CommandLine;

namespace SiteRecovery.Ctl.Commands;

/// <summary>Follows the node's live event stream (server-sent events) and prints one line per item.</summary>
public static class EventsCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var count = new Option<int?>("--count") { Description = "Stop after this many items" };
        var cmd = new Command("events", "Follow what the actors do: every journal event and job change, live") { count };
        cmd.SetAction(async (parse, ct) =>
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            var url = parse.GetValue(api)!.TrimEnd('/') + "/api/events";
            Stream stream;
            try { stream = await http.GetStreamAsync(url, ct); }
            catch (HttpRequestException e) { Console.Error.WriteLine($"srctl: node API not reachable: {e.Message}"); return 1; }
            using var reader = new StreamReader(stream);
            var seen = 0;
            var kind = "";
            var limit = parse.GetValue(count);
            try
            {
                while (await reader.ReadLineAsync(ct) is { } line)
                {
                    if (line.StartsWith("event: ", StringComparison.Ordinal)) { kind = line[7..]; continue; }
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    var data = line[6..];
                    if (parse.GetValue(json)) Console.WriteLine($"{{\"kind\":\"{kind}\",\"data\":{data}}}");
                    else
                    {
                        var node = System.Text.Json.Nodes.JsonNode.Parse(data);
                        Console.WriteLine(kind == "job"
                            ? $"job    {node?["kind"]} {node?["target"]}: {node?["state"]}"
                            : $"{kind,-6} {node?["persistenceId"]} #{node?["sequenceNr"]} {node?["type"]}");
                    }
                    if (limit is { } l && ++seen >= l) break;
                }
            }
            catch (OperationCanceledException) { }
            return 0;
        });
        return cmd;
    }
}

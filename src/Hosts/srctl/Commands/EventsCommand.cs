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
            using var http = ApiClient.Http(Timeout.InfiniteTimeSpan);
            var url = parse.GetValue(api)!.TrimEnd('/') + "/api/events";
            Stream stream;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                if (ApiToken.Resolve() is { Length: > 0 } token) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
                var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                if (!response.IsSuccessStatusCode)
                {
                    Console.Error.WriteLine($"srctl: HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                    return 1;
                }
                stream = await response.Content.ReadAsStreamAsync(ct);
            }
            catch (HttpRequestException e) { Console.Error.WriteLine($"srctl: {ApiClient.Unreachable(e)}"); return 1; }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
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

using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Actors.Hosting;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// What the drill schedule does on a node that runs failovers (configuration and master-target roles): every
/// <see cref="FailoverSettings.DrillCheckInterval"/> the <see cref="DrillScheduler"/> starts a test failover, to the
/// <c>latest</c> point with the plan's drill TTL, for each plan whose <c>DrillEvery</c> has passed. The scheduler itself
/// is wired by <see cref="SchedulingExtensions.AddDrillScheduler"/>.
/// </summary>
/// <remarks>
/// A drill is started by posting to this node's own <c>POST /api/failovers</c>, exactly as <c>srctl failover start</c>
/// does: the checks before a start (plan, machines, point), the failover directory's refusal of a machine that is
/// already in a failover and the job's start stay in ONE code path (<c>FailoverEndpoints</c>). A refusal comes back as
/// the API's error text, is logged, and the plan is tried again at the next check.
/// </remarks>
public static class DrillSchedules
{
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    public static DrillPaths Paths(IServiceProvider services, NodeOptions options)
    {
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("SiteRecovery.DrillSchedule");
        var http = new HttpClient(services.GetRequiredService<SiteRecovery.Node.Access.ApiTls>().OwnApiHandler()) { BaseAddress = LoopbackOf(options.ApiUrl), Timeout = StartTimeout };
        // The scheduler calls its own node like any client, with a token of the operator role (a drill is a test
        // failover) that lives in this process only.
        var token = services.GetRequiredService<SiteRecovery.Node.Access.ApiTokenStore>().CreateEphemeral("node-drill-scheduler", SiteRecovery.Node.Access.ApiRole.Operator);
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return new DrillPaths(due => StartDrillAsync(http, due), m => log.LogInformation("{Message}", m));
    }

    static async Task<DrillStartResult> StartDrillAsync(HttpClient http, DueDrill due)
    {
        try
        {
            var response = await http.PostAsJsonAsync("api/failovers",
                new { plan = due.PlanId, kind = "test", point = "latest", ttlSeconds = (int)due.Ttl.TotalSeconds });
            var text = await response.Content.ReadAsStringAsync();
            JsonNode? node = null;
            try { node = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (System.Text.Json.JsonException) { }
            return response.IsSuccessStatusCode
                ? new DrillStartResult(true, $"job {node?["jobId"]} (time-to-live {due.Ttl})")
                : new DrillStartResult(false, $"HTTP {(int)response.StatusCode}: {node?["error"]?.ToString() ?? text}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return new DrillStartResult(false, $"the node's API did not answer: {e.Message}");
        }
    }

    /// <summary>The API as this node reaches itself: a wildcard listen address becomes the loopback address.</summary>
    internal static Uri LoopbackOf(string apiUrl)
    {
        var text = apiUrl.Replace("://+", "://127.0.0.1").Replace("://*", "://127.0.0.1");
        var b = new UriBuilder(text);
        if (b.Host is "0.0.0.0" or "[::]" or "::" or "") b.Host = "127.0.0.1";
        return new Uri(b.Uri.GetLeftPart(UriPartial.Authority) + "/");
    }
}

using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>The bench's long-running children (srnode, sragent, nbdkit) as <see cref="ChildProcess"/>, with the step named when one fails.</summary>
public static class Child
{
    public static ChildProcess Start(string name, string file, IEnumerable<string> args, string logDir, Action<string>? onLine = null)
    {
        try { return ChildProcess.Start(name, file, args, logDir, onLine); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { throw new BenchException("start " + name, $"cannot start {file}: {e.Message}"); }
    }

    /// <summary>
    /// srnode (<paramref name="args"/>: its dll, <c>run</c> and the options) with the bench's data path: both listeners
    /// <c>optional</c>, since the shipped default (<c>required</c>) refuses the bench's agents, which do not register, and
    /// its data nodes that neither run the configuration role nor register. So every figure measures what it measured
    /// before that default: agents in plain, and TLS between a node's own roles only where the node certifies them
    /// (the configuration role). Arguments with a <c>--config</c> of their own (the TLS bench's registered node, whose
    /// file requires TLS) keep it instead.
    /// </summary>
    public static ChildProcess StartNode(string name, IEnumerable<string> args, string logDir, Action<string>? onLine = null)
    {
        var all = args.ToList();
        if (!all.Contains("--config"))
        {
            var plain = Path.Combine(logDir, "plain-data-path.hocon");
            File.WriteAllText(plain, "siterecovery.data-path.tls { process-server = optional, master-target = optional }\n");
            all.AddRange(["--config", plain]);
        }
        return Start(name, "dotnet", all, logDir, onLine);
    }

    /// <summary>Fails the step loudly if this process has died.</summary>
    public static void EnsureRunning(this ChildProcess child, string step)
    {
        if (child.HasExited)
            throw new BenchException(step, $"{child.Name} (pid {child.Pid}) exited with code {child.ExitCode}; last output:\n  {child.RecentOutput()}\n  (log {child.LogPath})");
    }
}

/// <summary>
/// The node's HTTP API, as the bench uses it: with the admin token the node wrote into <paramref name="dataDir"/> on its
/// first start (read at each call, since it appears only once the node has started).
/// </summary>
public sealed class NodeApi(string baseUrl, string dataDir) : IDisposable
{
    readonly HttpClient _http = new() { BaseAddress = new Uri(baseUrl + "/"), Timeout = TimeSpan.FromMinutes(15) };

    public Task<JsonNode> GetAsync(string path, string step, CancellationToken ct) => SendAsync(HttpMethod.Get, path, null, step, ct);

    public Task<JsonNode> PostAsync(string path, object body, string step, CancellationToken ct) => SendAsync(HttpMethod.Post, path, body, step, ct);

    async Task<JsonNode> SendAsync(HttpMethod method, string path, object? body, string step, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        var tokenFile = Path.Combine(dataDir, "keys", "admin.token");
        if (File.Exists(tokenFile)) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", File.ReadAllText(tokenFile).Trim());
        if (body is not null) request.Content = JsonContent.Create(body);
        using var r = await _http.SendAsync(request, ct);
        return await ReadAsync(r, $"{method} {path}", step, ct);
    }

    static async Task<JsonNode> ReadAsync(HttpResponseMessage r, string what, string step, CancellationToken ct)
    {
        var text = await r.Content.ReadAsStringAsync(ct);
        if (!r.IsSuccessStatusCode) throw new BenchException(step, $"{what} returned {(int)r.StatusCode}: {Tools.Tail(text, 600)}");
        return JsonNode.Parse(text) ?? throw new BenchException(step, $"{what} returned an empty body");
    }

    /// <summary>A bookmark on the disks; returns once it is durable at the replica, i.e. replication has caught up to here.</summary>
    public Task<JsonNode> BookmarkAsync(string name, string[] disks, string step, CancellationToken ct) =>
        PostAsync("api/bookmarks", new { name, disks, timeoutSeconds = 600 }, step, ct);

    public void Dispose() => _http.Dispose();
}

public static class Net
{
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Waits until something accepts TCP connections on the port (nbdkit has no readiness line).</summary>
    public static async Task WaitForPortAsync(int port, TimeSpan timeout, string step, ChildProcess owner, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            owner.EnsureRunning(step);
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port, ct);
                return;
            }
            catch (SocketException) { await Task.Delay(100, ct); }
        }
        throw new BenchException(step, $"nothing listens on 127.0.0.1:{port} after {timeout.TotalSeconds:0} s");
    }
}

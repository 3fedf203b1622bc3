using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace SiteRecovery.Bench;

/// <summary>A long-running child process (srnode, sragent, nbdkit) with its output in a log file.</summary>
public sealed class Child : IAsyncDisposable
{
    readonly Process _process;
    readonly StreamWriter _log;
    readonly List<string> _recent = [];

    public string Name { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    Child(string name, Process process, string logPath, Action<string>? onLine)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        void Line(string? l)
        {
            if (l is null) return;
            lock (_log)
            {
                _log.WriteLine(l);
                _recent.Add(l);
                if (_recent.Count > 40) _recent.RemoveAt(0);
            }
            onLine?.Invoke(l);
        }
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static Child Start(string name, string file, IEnumerable<string> args, string logDir, Action<string>? onLine = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = logDir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi) ?? throw new BenchException("start " + name, $"cannot start {file}"); }
        catch (System.ComponentModel.Win32Exception e) { throw new BenchException("start " + name, $"cannot start {file}: {e.Message}"); }
        return new Child(name, p, Path.Combine(logDir, name + ".log"), onLine);
    }

    public string RecentOutput() { lock (_log) return string.Join("\n  ", _recent.TakeLast(12)); }

    /// <summary>Fails the step loudly if this process has died.</summary>
    public void EnsureRunning(string step)
    {
        if (_process.HasExited)
            throw new BenchException(step, $"{Name} (pid {Pid}) exited with code {_process.ExitCode}; last output:\n  {RecentOutput()}\n  (log {LogPath})");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int SysKill(int pid, int signal);

    const int SigTerm = 15;

    /// <summary>SIGKILL, as a crash: nothing is flushed or drained. Waits for the exit.</summary>
    public async Task Kill9Async()
    {
        if (_process.HasExited) return;
        SysKill(_process.Id, 9);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, then SIGKILL if it has not exited within <paramref name="grace"/>. Returns false when it had to be killed.</summary>
    public async Task<bool> StopAsync(TimeSpan grace)
    {
        if (_process.HasExited) return true;
        SysKill(_process.Id, SigTerm);
        using var cts = new CancellationTokenSource(grace);
        try { await _process.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException)
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await _process.WaitForExitAsync();
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
        lock (_log) _log.Dispose();
    }
}

/// <summary>The node's HTTP API, as the bench uses it.</summary>
public sealed class NodeApi(string baseUrl) : IDisposable
{
    readonly HttpClient _http = new() { BaseAddress = new Uri(baseUrl + "/"), Timeout = TimeSpan.FromMinutes(15) };

    public async Task<JsonNode> GetAsync(string path, string step, CancellationToken ct)
    {
        using var r = await _http.GetAsync(path, ct);
        return await ReadAsync(r, "GET " + path, step, ct);
    }

    public async Task<JsonNode> PostAsync(string path, object body, string step, CancellationToken ct)
    {
        using var r = await _http.PostAsJsonAsync(path, body, ct);
        return await ReadAsync(r, "POST " + path, step, ct);
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
    public static async Task WaitForPortAsync(int port, TimeSpan timeout, string step, Child owner, CancellationToken ct)
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

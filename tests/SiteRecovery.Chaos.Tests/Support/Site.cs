using System.Text.Json.Nodes;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>An srnode process with fixed ports and data directory, so it can be killed and restarted as the same node.</summary>
public sealed class Node : IDisposable
{
    readonly string _logDir;
    readonly string[] _extraArgs;

    public Node(string id, string roles, string dataDir, string logDir, string? masterTarget = null, params string[] extraArgs)
    {
        Id = id;
        Roles = roles;
        DataDir = dataDir;
        _logDir = logDir;
        MasterTarget = masterTarget;
        _extraArgs = extraArgs;
        RecoveryDir = logDir;
        PsPort = Net.FreePort();
        MtPort = Net.FreePort();
        ApiPort = Net.FreePort();
    }

    /// <summary>Whether the API listens on https (the node's own certificate, trusted by <see cref="Api"/>); set before the first start.</summary>
    public bool Https { get; init; }

    /// <summary>
    /// The data-path TLS mode of both listeners this node starts with, unless its own <c>--config</c> sets another:
    /// <c>optional</c> here, since most tests start plain agents and data nodes that did not register (the shipped default
    /// is <c>required</c>); null starts the node on the shipped defaults. Tests of a certified site pass <c>required</c>
    /// in their own file (<see cref="TlsSite.RequiredTlsConfig"/>).
    /// </summary>
    public string? DataPathTls { get; init; } = "optional";

    public string Id { get; }
    public string Roles { get; }
    public string DataDir { get; }
    public string? MasterTarget { get; }
    public int PsPort { get; }
    public int MtPort { get; }
    public int ApiPort { get; }
    public string ApiUrl => $"{(Https ? "https" : "http")}://127.0.0.1:{ApiPort}";
    /// <summary>Where this node's first start writes its admin token (see <see cref="Api.AdminTokenOf"/>).</summary>
    public string AdminTokenFile => Path.Combine(DataDir, "keys", "admin.token");
    public string PsAddress => $"127.0.0.1:{PsPort}";
    public string MtAddress => $"127.0.0.1:{MtPort}";
    Api? _api;
    public Api Api => _api ??= new Api(ApiUrl, () => Api.AdminTokenOf(DataDir), Https ? ApiCertificateFile : null);
    /// <summary>The certificate a node on https makes for its API, which clients trust.</summary>
    public string ApiCertificateFile => Path.Combine(DataDir, "keys", "api.crt");
    /// <summary>
    /// The node's <c>--recovery-dir</c>: the test's own directory by default, so the tests' recover calls name files beside
    /// their other files; null starts the node with its default (<c>&lt;data&gt;/recovered</c>).
    /// </summary>
    public string? RecoveryDir { get; set; }
    /// <summary>Environment variables the node's next start gets besides this process's own.</summary>
    public Dictionary<string, string> Environment { get; } = [];
    public HostProcess? Process { get; private set; }
    /// <summary>Every process this node has run (earlier ones killed or stopped), for logs.</summary>
    public List<HostProcess> History { get; } = [];

    public IEnumerable<string> Args()
    {
        yield return "run";
        yield return "--id"; yield return Id;
        yield return "--roles"; yield return Roles;
        yield return "--data"; yield return DataDir;
        yield return "--ps-listen"; yield return PsAddress;
        yield return "--mt-listen"; yield return MtAddress;
        if (MasterTarget is not null) { yield return "--master-target"; yield return MasterTarget; }
        yield return "--api"; yield return ApiUrl;
        if (RecoveryDir is not null) { yield return "--recovery-dir"; yield return RecoveryDir; }
        if (!_extraArgs.Contains("--peer-tokens")) { yield return "--peer-tokens"; yield return PeerTokensFile; }
        var own = Array.IndexOf(_extraArgs, "--config");
        if (DataPathTls is not null && own < 0) { yield return "--config"; yield return DataPathConfig(null); }
        for (var i = 0; i < _extraArgs.Length; i++)
        {
            yield return _extraArgs[i];
            if (i == own && DataPathTls is not null && i + 1 < _extraArgs.Length) yield return DataPathConfig(_extraArgs[++i]);
        }
    }

    /// <summary>
    /// The file the node is given as <c>--config</c>: <see cref="DataPathTls"/> for both listeners, then the test's own
    /// <paramref name="ownConfig"/> (read at every start, as srnode reads it), whose settings win. A missing file is passed
    /// on as it is, for srnode to name.
    /// </summary>
    string DataPathConfig(string? ownConfig)
    {
        if (ownConfig is not null && !File.Exists(ownConfig)) return ownConfig;
        var path = Path.Combine(_logDir, $"srnode-{Id}.hocon");
        File.WriteAllText(path, $"siterecovery.data-path.tls {{ process-server = {DataPathTls}, master-target = {DataPathTls} }}\n" +
            (ownConfig is null ? "" : File.ReadAllText(ownConfig)));
        return path;
    }

    /// <summary>
    /// The nodes of one test directory trust each other as sites: each started node adds its API URL and admin token to
    /// this file (0600), which every one of them is given as <c>--peer-tokens</c> (a failover node calls the original
    /// site's API during a failback). Tests of that flag pass their own.
    /// </summary>
    public string PeerTokensFile => Path.Combine(_logDir, "peer-tokens");

    void EnsurePeerTokensFile()
    {
        if (File.Exists(PeerTokensFile)) return;
        try { SiteRecovery.Contracts.Storage.PrivateFiles.CreateNew(PeerTokensFile); }
        catch (IOException) when (File.Exists(PeerTokensFile)) { }
    }

    void TrustedAsPeer()
    {
        if (Api.AdminTokenOf(DataDir) is not { } token) return;
        lock (typeof(Node))
        {
            if (File.ReadAllLines(PeerTokensFile).Any(l => l.StartsWith(ApiUrl + " ", StringComparison.Ordinal))) return;
            File.AppendAllText(PeerTokensFile, $"{ApiUrl} {token}{(Https ? " " + ApiCertificateFile : "")}\n");
        }
    }

    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (Process is { HasExited: false }) throw new InvalidOperationException($"node {Id} is already running");
        EnsurePeerTokensFile();
        Process = HostProcess.Start($"srnode-{Id}", Repo.NodeDll, Args(), _logDir, Environment);
        History.Add(Process);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (Process.HasExited)
            {
                // The exit can be seen before its last output lines are read: the tail must hold the reason.
                await Process.DrainAsync();
                throw new InvalidOperationException($"node {Id} exited with {Process.ExitCode} while starting\n{Process.Tail()}");
            }
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var r = await Api.GetAsync("api/status", cts.Token);
                if (r.Status == System.Net.HttpStatusCode.OK) { TrustedAsPeer(); return; }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"node {Id}: API not up within {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds:0} s\n{Process.Tail()}");
            await Task.Delay(150);
        }
    }

    public void Kill9() => Process?.Kill9();

    public Task StopAsync() => Process?.StopAsync(TimeSpan.FromSeconds(30)) ?? Task.CompletedTask;

    public async Task<JsonNode> StatusAsync()
    {
        var r = await Api.GetAsync("api/status");
        if (r.Status != System.Net.HttpStatusCode.OK || r.Body is null) throw new InvalidOperationException($"node {Id}: status {r.Status}: {r.Text}");
        return r.Body;
    }

    /// <summary>What this node's process server has spooled for <paramref name="disk"/> (0 when unknown).</summary>
    public async Task<long> SpooledAsync(string disk)
    {
        var s = await StatusAsync();
        return s["cache"]!.AsArray().FirstOrDefault(c => c!["disk"]!.GetValue<string>() == disk)?["spooled"]!.GetValue<long>() ?? 0;
    }

    /// <summary>Highest sequence applied at this node's master target for <paramref name="disk"/> (-1 when unknown).</summary>
    public async Task<long> AppliedAsync(string disk)
    {
        var s = await StatusAsync();
        return s["disks"]!.AsArray().FirstOrDefault(c => c!["disk"]!.GetValue<string>() == disk)?["appliedThrough"]!.GetValue<long>() ?? -1;
    }

    /// <summary>Takes a bookmark, retrying while the data path is reconnecting (409) after a crash.</summary>
    public async Task<long> BookmarkAsync(string name, string[] disks, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var r = await Api.PostAsync("api/bookmarks", new { name, disks, timeoutSeconds = 120 });
            if (r.Status == System.Net.HttpStatusCode.OK) return r.Body!["sequences"]![disks[0]]!.GetValue<long>();
            if (r.Status != System.Net.HttpStatusCode.Conflict || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"bookmark {name}: {(int)r.Status} {r.Text}\n{Process?.Tail()}");
            await Task.Delay(300);
        }
    }

    /// <summary>Recovers <paramref name="disk"/> at a bookmark into <paramref name="output"/>; returns the SHA-256 the node reports.</summary>
    public async Task<string> RecoverAsync(string disk, string bookmark, string output)
    {
        var r = await Api.PostAsync("api/recover", new { disk, bookmark, output });
        if (r.Status != System.Net.HttpStatusCode.OK) throw new InvalidOperationException($"recover {disk} at {bookmark}: {(int)r.Status} {r.Text}\n{Process?.Tail()}");
        return r.Body!["sha256"]!.GetValue<string>();
    }

    public string Logs(int lines = 40) => string.Join('\n', History.Select(h => h.Tail(lines)));

    public void Dispose()
    {
        foreach (var p in History) p.Dispose();
        _api?.Dispose();
    }
}

/// <summary>An sragent process with a fixed NBD port and state directory, so it can be killed and restarted as the same agent.</summary>
public sealed class Agent : IDisposable
{
    readonly string _logDir;

    public Agent(string id, IReadOnlyDictionary<string, string> disks, string processServer, string stateDir, string logDir)
    {
        Id = id;
        Disks = disks;
        ProcessServer = processServer;
        StateDir = stateDir;
        _logDir = logDir;
        NbdPort = Net.FreePort();
    }

    public string Id { get; }
    public IReadOnlyDictionary<string, string> Disks { get; }
    public string ProcessServer { get; }
    public string StateDir { get; }
    public int NbdPort { get; }
    public HostProcess? Process { get; private set; }
    public List<HostProcess> History { get; } = [];
    /// <summary>More arguments for the agent's next start (e.g. <c>--compare-with-replica</c>).</summary>
    public List<string> ExtraArgs { get; } = [];

    /// <summary>When set before a start, the agent serves NBD on this Unix socket instead of its TCP port.</summary>
    public string? NbdSocket { get; init; }

    /// <summary>The address the agent's NBD export listens on (beyond loopback it needs TLS or <c>--nbd-listen-any</c>).</summary>
    public string NbdHost { get; init; } = "127.0.0.1";

    public string Uri(string disk) => NbdSocket is { } socket ? $"nbd+unix:///{disk}?socket={socket}" : $"nbd://127.0.0.1:{NbdPort}/{disk}";

    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (Process is { HasExited: false }) throw new InvalidOperationException($"agent {Id} is already running");
        var args = new List<string> { "run", "--id", Id };
        foreach (var (name, path) in Disks) { args.Add("--disk"); args.Add($"{name}={path}"); }
        args.AddRange(["--nbd", NbdSocket is { } socket ? $"unix:{socket}" : $"{NbdHost}:{NbdPort}", "--process-server", ProcessServer, "--state-dir", StateDir, "--json"]);
        args.AddRange(ExtraArgs);
        Process = HostProcess.Start($"sragent-{Id}", Repo.AgentDll, args, _logDir);
        History.Add(Process);
        await Process.WaitForLineAsync(l => l.Contains("\"ready\"", StringComparison.Ordinal), timeout ?? TimeSpan.FromSeconds(60), "ready line");
    }

    public void Kill9() => Process?.Kill9();

    public Task StopAsync() => Process?.StopAsync(TimeSpan.FromSeconds(30)) ?? Task.CompletedTask;

    public string Logs(int lines = 40) => string.Join('\n', History.Select(h => h.Tail(lines)));

    public void Dispose()
    {
        foreach (var p in History) p.Dispose();
    }
}

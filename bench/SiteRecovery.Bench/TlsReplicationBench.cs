using System.Globalization;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench tls2a</c>: figure 2a with and without mutual TLS on the data path (issue 15's target: at most 10 % lower on
/// the median). Two sites of the same shape, both started and warmed up before the pairs: an srnode running the process
/// server and the master target with an sragent beside it, one plain, one whose node and agent registered with a site
/// authority (a third srnode, the configuration role) and so hold certificates, its listeners requiring TLS. Figure 2a's
/// job (fio through the agent's NBD export, until a bookmark is durable at the replica) runs on each in interleaved ABBA
/// pairs, with the CPU of srnode and sragent per GiB (<see cref="CpuPerByteBench"/>'s run). Which hops ran TLS is read
/// from each node's log (the listeners log every TLS session they accept), not assumed.
/// </summary>
public static class TlsReplicationBench
{
    public const string Usage = """
        usage: srbench tls2a [--pairs N] [--quick] [--work-dir DIR] [--keep]
          --pairs N   interleaved plain / TLS pairs of figure 2a (default 5, at least 2)
          other options as for the full bench (--quick: 256 MiB runs)
        """;

    const string ConfigurationServer = "cs1";

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var pairs = 5;
        var rest = new List<string>();
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                if (args[i] != "--pairs") { rest.Add(args[i]); continue; }
                var v = i + 1 < args.Length ? args[++i] : throw new ArgumentException("--pairs needs a value");
                if (!int.TryParse(v, CultureInfo.InvariantCulture, out pairs) || pairs < 2) throw new ArgumentException($"--pairs '{v}' is not a whole number of at least 2");
            }
        }
        catch (ArgumentException e) { Console.Error.WriteLine($"srbench tls2a: {e.Message}\n{Usage}"); return 2; }
        BenchOptions options;
        try { options = BenchOptions.Parse([.. rest]); }
        catch (ArgumentException e) { Console.Error.WriteLine($"srbench tls2a: {e.Message}\n{Usage}"); return 2; }
        if (options.Help) { Console.WriteLine(Usage); return 0; }

        var repo = options.RepoRoot is { } r ? Path.GetFullPath(r) : StallBench.FindRepoRoot();
        var work = Path.Combine(Path.GetFullPath(options.WorkParent ?? Path.GetTempPath()), $"srbench-tls2a-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(work);
        ChildProcess? authority = null;
        Bench? plain = null, tls = null;
        var ok = false;
        try
        {
            Bench.Step("start the site authority (srnode, configuration role)");
            var (cfg, apiUrl, passphrase) = await StartAuthorityAsync(repo, work, ct);
            authority = cfg;
            var conf = Path.Combine(work, "tls.hocon");
            await File.WriteAllTextAsync(conf, "siterecovery.data-path.tls { process-server = required, master-target = required }\n", ct);
            string[] roles = ["--roles", "process-server,master-target"];
            plain = new Bench(options with { WorkParent = Directory.CreateDirectory(Path.Combine(work, "plain")).FullName }) { NodeArgs = roles };
            tls = new Bench(options with { WorkParent = Directory.CreateDirectory(Path.Combine(work, "tls")).FullName })
            {
                NodeArgs = [.. roles, "--register-with", apiUrl, "--configuration-server", ConfigurationServer, "--passphrase-file", passphrase, "--config", conf],
                BeforeAgent = (agentDll, stateDir, c) => Tools.RunAsync("dotnet", [agentDll, "register", "--id", "bench-vm", "--api", apiUrl,
                    "--configuration-server", ConfigurationServer, "--passphrase-file", passphrase, "--state-dir", stateDir], TimeSpan.FromMinutes(2), "register sragent", c),
            };
            Bench.Step("plain site");
            await plain.OpenSiteAsync(ct);
            Bench.Step("TLS site (node and agent registered, data-path TLS required)");
            await tls.OpenSiteAsync(ct);
            var hops = new[] { ("plain", Hops(plain)), ("TLS", Hops(tls)) };
            foreach (var (name, h) in hops) Console.WriteLine($"  {name} site: {h}");
            if (!Hops(tls).Both) throw new BenchException("check TLS", $"the TLS site does not run TLS on both hops ({Hops(tls)}); node log {tls.Node.LogPath}");
            if (Hops(plain).Any) throw new BenchException("check TLS", $"the plain site runs TLS ({Hops(plain)})");

            var plainRun = new CpuPerByteBench.Run(plain, pairs, ct);
            var tlsRun = new CpuPerByteBench.Run(tls, pairs, ct);
            var results = new List<(CpuPerByteBench.NodeRun Plain, CpuPerByteBench.NodeRun Tls)>();
            for (var i = 0; i < pairs; i++)
            {
                Bench.Step($"2a pair {i + 1}/{pairs} ({(i % 2 == 0 ? "plain first" : "TLS first")}; {StallBench.LoadAverage()})");
                CpuPerByteBench.NodeRun a, b;
                if (i % 2 == 0) { a = await plainRun.NodeRunAsync($"tls2a-plain-{i}"); b = await tlsRun.NodeRunAsync($"tls2a-tls-{i}"); }
                else { b = await tlsRun.NodeRunAsync($"tls2a-tls-{i}"); a = await plainRun.NodeRunAsync($"tls2a-plain-{i}"); }
                results.Add((a, b));
                Console.WriteLine($"  plain {a.MBps:0} MB/s, srnode {a.Node.Total:0.00} CPU-s/GiB, sragent {a.Agent.Total:0.00}; " +
                                  $"TLS {b.MBps:0} MB/s, srnode {b.Node.Total:0.00}, sragent {b.Agent.Total:0.00}; TLS/plain {b.MBps / a.MBps:0.00}; " +
                                  $"other processes {Math.Max(a.ForeignCores, b.ForeignCores):0.00} cores");
            }
            hops = [("plain", Hops(plain)), ("TLS", Hops(tls))];
            Print(results, hops, plain, options, repo);
            ok = true;
            return 0;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"BENCH FAILED in step '{e.Step}': {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("BENCH CANCELLED (Ctrl-C)");
            return 130;
        }
        finally
        {
            if (tls is not null) await tls.StopAllAsync();
            if (plain is not null) await plain.StopAllAsync();
            if (authority is not null) await authority.DisposeAsync();
            if (ok && !options.Keep) Bench.TryDelete(work);
            else Console.WriteLine($"data and logs kept in {work}");
        }
    }

    /// <summary>
    /// A node with the configuration role only (the site's authority), a vault, a registration key and a configuration
    /// server, as an operator makes them; returns the node, its API and the file holding the passphrase (0600).
    /// </summary>
    static async Task<(ChildProcess Node, string ApiUrl, string PassphraseFile)> StartAuthorityAsync(string repo, string work, CancellationToken ct)
    {
        const string step = "start the site authority";
        var data = Path.Combine(work, "authority");
        var apiUrl = $"http://127.0.0.1:{Net.FreePort()}";
        var node = Child.Start("srnode-authority", "dotnet", [StallBench.Dll(repo, "SiteRecovery.Node", "srnode"), "run", "--id", "cfg", "--roles", "configuration",
            "--data", data, "--ps-listen", $"127.0.0.1:{Net.FreePort()}", "--mt-listen", $"127.0.0.1:{Net.FreePort()}", "--api", apiUrl], work);
        try
        {
            using var api = new NodeApi(apiUrl, data);
            await StallBench.WaitUpAsync(node, api, step, ct);
            await api.PostAsync("api/vaults", new { name = "v1", region = "WestEurope" }, step, ct);
            var key = (await api.PostAsync("api/vaults/v1/keys", new { }, step, ct))["key"]!.GetValue<string>();
            var passphrase = (await api.PostAsync("api/configuration-servers",
                new { id = ConfigurationServer, registrationKey = key, connectivity = "Internet", endpoints = new[] { "127.0.0.1:443" } }, step, ct))["passphrase"]!.GetValue<string>();
            var file = Path.Combine(work, "passphrase");
            PrivateFiles.CreateNew(file);
            await File.WriteAllTextAsync(file, passphrase, ct);
            return (node, apiUrl, file);
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Which hops of a site ran TLS, from its node's log: the TLS sessions its two listeners accepted.</summary>
    sealed record HopsSeen(int AgentSessions, int ForwarderSessions)
    {
        public bool Both => AgentSessions > 0 && ForwarderSessions > 0;
        public bool Any => AgentSessions > 0 || ForwarderSessions > 0;

        public override string ToString() =>
            $"agent → process server: {(AgentSessions > 0 ? $"TLS ({AgentSessions} sessions)" : "plain")}, " +
            $"process server → master target: {(ForwarderSessions > 0 ? $"TLS ({ForwarderSessions} sessions)" : "plain")} (from the node's log)";
    }

    static HopsSeen Hops(Bench site)
    {
        // The listeners' line for every certified session they accept (SessionListener).
        var lines = ReadShared(site.Node.LogPath);
        return new(lines.Count(l => l.Contains("process server: TLS session with agent ", StringComparison.Ordinal)),
                   lines.Count(l => l.Contains("master target: TLS session with processserver ", StringComparison.Ordinal)));
    }

    static List<string> ReadShared(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(f);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }

    static void Print(List<(CpuPerByteBench.NodeRun Plain, CpuPerByteBench.NodeRun Tls)> runs, (string, HopsSeen)[] hops, Bench site, BenchOptions options, string repo)
    {
        var S = CpuPerByteBench.Spread.Of;
        var plainRate = S(runs.Select(r => r.Plain.MBps));
        var tlsRate = S(runs.Select(r => r.Tls.MBps));
        var ratio = S(runs.Select(r => r.Tls.MBps / r.Plain.MBps));
        var ofMedians = tlsRate.Median / plainRate.Median;
        var nodeAdded = S(runs.Select(r => r.Tls.Node.Total - r.Plain.Node.Total));
        var agentAdded = S(runs.Select(r => r.Tls.Agent.Total - r.Plain.Agent.Total));
        var foreign = S(runs.SelectMany(r => new[] { r.Plain.ForeignCores, r.Tls.ForeignCores }));
        Console.WriteLine();
        Console.WriteLine($"figure 2a with and without mutual TLS, {runs.Count} interleaved pairs (ABBA), {site.Profile.Name} sizes ({site.Profile.ThroughputMiB} MiB per run) — {site.MachineSummary}");
        Console.WriteLine($"CPU outside the measured processes during the runs: {foreign.Text("0.00")} cores, median (min–max)");
        foreach (var (name, h) in hops) Console.WriteLine($"{name} site: {h}");
        Console.WriteLine("values: median (min–max) over the pairs");
        void Side(string name, Func<(CpuPerByteBench.NodeRun Plain, CpuPerByteBench.NodeRun Tls), CpuPerByteBench.NodeRun> of) =>
            Console.WriteLine($"  2a {name,-11} {S(runs.Select(r => of(r).MBps)).Text("0")} MB/s; srnode {S(runs.Select(r => of(r).Node.Total)).Text("0.00")} CPU-s/GiB " +
                              $"(user {S(runs.Select(r => of(r).Node.User)).Text("0.00")}, system {S(runs.Select(r => of(r).Node.System)).Text("0.00")}), " +
                              $"sragent {S(runs.Select(r => of(r).Agent.Total)).Text("0.00")} (user {S(runs.Select(r => of(r).Agent.User)).Text("0.00")}, system {S(runs.Select(r => of(r).Agent.System)).Text("0.00")})");
        Side("plain", r => r.Plain);
        Side("TLS", r => r.Tls);
        Console.WriteLine($"  TLS adds       srnode {nodeAdded.Text("0.00")} CPU-s/GiB (three TLS ends: the process server receiving and forwarding, the master target receiving), " +
                          $"sragent {agentAdded.Text("0.00")} (one end)");
        Console.WriteLine($"  TLS / plain    {ratio.Text("0.00")} per pair; {ofMedians:0.00} of the medians: TLS is {(1 - ofMedians) * 100:0.#} % below plain on the median");
        var met = ofMedians >= 0.9;
        Console.WriteLine($"  target (at most 10 % lower on the median): {(met ? "met" : "NOT met")} on this machine");

        var json = new JsonObject
        {
            ["started"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture), ["machine"] = site.MachineSummary, ["pairs"] = runs.Count, ["profile"] = site.Profile.Name,
            ["hops"] = new JsonObject { ["plain"] = hops[0].Item2.ToString(), ["tls"] = hops[1].Item2.ToString() },
            ["plainMBps"] = plainRate.Json(), ["tlsMBps"] = tlsRate.Json(), ["tlsToPlain"] = ratio.Json(), ["tlsToPlainOfMedians"] = Math.Round(ofMedians, 3), ["targetMet"] = met,
            ["nodeCpuPerGiB"] = new JsonObject { ["plain"] = S(runs.Select(r => r.Plain.Node.Total)).Json(), ["tls"] = S(runs.Select(r => r.Tls.Node.Total)).Json(), ["added"] = nodeAdded.Json() },
            ["agentCpuPerGiB"] = new JsonObject { ["plain"] = S(runs.Select(r => r.Plain.Agent.Total)).Json(), ["tls"] = S(runs.Select(r => r.Tls.Agent.Total)).Json(), ["added"] = agentAdded.Json() },
            ["foreignCores"] = foreign.Json(),
        };
        var dir = Path.GetFullPath(options.ResultsDir ?? Path.Combine(repo, "bench", "results"));
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "tls2a-latest.json");
        File.WriteAllText(file, json.ToJsonString(Report.Indented) + "\n");
        Console.WriteLine($"results: {file}");
    }
}

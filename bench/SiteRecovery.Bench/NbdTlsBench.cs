using System.Diagnostics;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench nbd-tls</c>: what mutual TLS costs the agent's NBD export. One srnode, two sragent processes on loopback,
/// one plain and one with <c>--nbd-tls-*</c>; nbdcopy (one connection, flushed at the end) writes the same file of
/// random bytes sequentially into each, alternating, and the bench prints MB/s and the agent's CPU seconds per GiB
/// written (from /proc: NBD serving plus the replication it sends in that window; nbdcopy's own CPU is not counted).
/// Replication catches up (a bookmark) before each copy.
/// </summary>
public static class NbdTlsBench
{
    const string Usage = "usage: srbench nbd-tls [--mib 1024] [--rounds 3] [--repo DIR]";
    const long MiB = 1 << 20;
    const double GiB = 1 << 30;
    // /proc/PID/stat counts CPU time in clock ticks of USER_HZ, 100 on every Linux this runs on.
    const double TicksPerSecond = 100;

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var mib = 1024;
        var rounds = 3;
        string? repo = null;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--mib": mib = int.TryParse(Value(), out var m) && m is >= 16 and <= 16384 ? m : throw new ArgumentException("--mib: a size in 16..16384"); break;
                    case "--rounds": rounds = int.TryParse(Value(), out var r) && r is >= 1 and <= 20 ? r : throw new ArgumentException("--rounds: a count in 1..20"); break;
                    case "--repo": repo = Value(); break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench nbd-tls: {e.Message}\n{Usage}");
            return 2;
        }
        repo ??= StallBench.FindRepoRoot();
        var nodeDll = StallBench.Dll(repo, "SiteRecovery.Node", "srnode");
        var agentDll = StallBench.Dll(repo, "SiteRecovery.Agent", "sragent");
        var work = Path.Combine(Path.GetTempPath(), $"srbench-nbdtls-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        const string step = "NBD write with and without TLS";
        var children = new List<ChildProcess>();
        try
        {
            var bytes = mib * MiB;
            Console.WriteLine($"sequential write of {mib} MiB through the agent's NBD export, nbdcopy --connections=1 --flush, {rounds} rounds alternating plain / TLS; " +
                              $"{Environment.ProcessorCount} cores, loopback, {StallBench.LoadAverage()}");
            var source = Path.Combine(work, "source.img");
            await using (var f = new FileStream(source, FileMode.CreateNew))
            {
                var chunk = new byte[MiB];
                var rng = new Random(1);
                for (var k = 0; k < mib; k++) { rng.NextBytes(chunk); await f.WriteAsync(chunk, ct); }
            }
            var (tlsArgs, client) = MakePki(work);

            int psPort = Net.FreePort(), mtPort = Net.FreePort(), apiPort = Net.FreePort();
            var apiUrl = $"http://127.0.0.1:{apiPort}";
            var node = Child.StartNode("srnode", [nodeDll, "run", "--id", "nbdtls", "--data", Path.Combine(work, "node"),
                "--ps-listen", $"127.0.0.1:{psPort}", "--mt-listen", $"127.0.0.1:{mtPort}", "--api", apiUrl], work);
            children.Add(node);
            using var api = new NodeApi(apiUrl, Path.Combine(work, "node"));
            await StallBench.WaitUpAsync(node, api, step, ct);

            async Task<(ChildProcess Agent, string Uri)> StartAgentAsync(string id, string[] extra, string scheme, string query)
            {
                var disk = Path.Combine(work, id + ".img");
                await using (var f = new FileStream(disk, FileMode.CreateNew)) f.SetLength(bytes);
                var port = Net.FreePort();
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var synced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var agent = Child.Start("sragent-" + id, "dotnet", [agentDll, "run", "--id", id, "--disk", $"{id}={disk}", "--nbd", $"127.0.0.1:{port}",
                    "--process-server", $"127.0.0.1:{psPort}", "--state-dir", Path.Combine(work, "agent-" + id), "--json", .. extra], work,
                    line =>
                    {
                        if (line.Contains("\"ready\"", StringComparison.Ordinal)) ready.TrySetResult();
                        if (line.Contains("resync scanned", StringComparison.Ordinal)) synced.TrySetResult();
                    });
                children.Add(agent);
                await ready.Task.WaitAsync(TimeSpan.FromMinutes(2), ct);
                // The first sync of the (empty) disk is not what is measured: it ends before the first copy.
                await synced.Task.WaitAsync(TimeSpan.FromMinutes(20), ct);
                return (agent, $"{scheme}://127.0.0.1:{port}/{id}{query}");
            }
            var plain = await StartAgentAsync("plain", [], "nbd", "");
            var tls = await StartAgentAsync("tls", tlsArgs, "nbds", $"?tls-certificates={client}");

            var runs = new Dictionary<string, List<(double MBps, double CpuPerGiB)>> { ["plain"] = [], ["tls"] = [] };
            for (var round = 0; round < rounds; round++)
            {
                foreach (var (mode, (agent, uri)) in new[] { ("plain", plain), ("tls", tls) })
                {
                    await api.BookmarkAsync($"settle-{mode}-{round}", [mode], step, ct);
                    var cpu = CpuSeconds(agent.Pid);
                    var sw = Stopwatch.StartNew();
                    await Tools.RunAsync("nbdcopy", ["--connections=1", "--flush", source, uri], TimeSpan.FromMinutes(30), step, ct);
                    var seconds = sw.Elapsed.TotalSeconds;
                    var used = CpuSeconds(agent.Pid) - cpu;
                    runs[mode].Add((bytes / 1e6 / seconds, used / (bytes / GiB)));
                    Console.WriteLine($"  round {round + 1} {mode,-5}: {bytes / 1e6 / seconds,7:0.0} MB/s, agent CPU {used / (bytes / GiB),5:0.00} s/GiB");
                }
            }
            Console.WriteLine($"{"export",-6} {"best MB/s",10} {"median MB/s",12} {"median agent CPU s/GiB",23}");
            foreach (var (mode, list) in runs)
                Console.WriteLine($"{mode,-6} {list.Max(r => r.MBps),10:0.0} {Median(list.Select(r => r.MBps)),12:0.0} {Median(list.Select(r => r.CpuPerGiB)),23:0.00}");
            var ratio = Median(runs["tls"].Select(r => r.MBps)) / Median(runs["plain"].Select(r => r.MBps));
            Console.WriteLine($"TLS / plain median throughput: {ratio:0.00}; {StallBench.LoadAverage()}" + (mib != 1024 ? $"; scaling: {mib} MiB per copy instead of 1 GiB (CPU is per GiB either way)" : ""));
            return 0;
        }
        finally
        {
            foreach (var c in children) await c.DisposeAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// The agent's server files and a client folder in the layout libnbd reads (ca-cert.pem, client-cert.pem,
    /// client-key.pem), made with the tests' <see cref="TestPki"/>.
    /// </summary>
    static (string[] AgentArgs, string ClientDir) MakePki(string work)
    {
        var ca = TestPki.Authority("bench-ca");
        TestPki.WritePem(ca, Path.Combine(work, "ca.pem"));
        TestPki.WritePem(TestPki.Server(ca), Path.Combine(work, "server.pem"), Path.Combine(work, "server.key"));
        var client = Directory.CreateDirectory(Path.Combine(work, "client")).FullName;
        TestPki.WritePem(ca, Path.Combine(client, "ca-cert.pem"));
        TestPki.WritePem(TestPki.Client(ca, "bench"), Path.Combine(client, "client-cert.pem"), Path.Combine(client, "client-key.pem"));
        return (["--nbd-tls-certificate", Path.Combine(work, "server.pem"), "--nbd-tls-key", Path.Combine(work, "server.key"),
                 "--nbd-tls-client-ca", Path.Combine(work, "ca.pem")], client);
    }

    /// <summary>User plus system CPU seconds of a process and all its threads so far (fields 14 and 15 of /proc/PID/stat).</summary>
    static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / TicksPerSecond;
    }

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}

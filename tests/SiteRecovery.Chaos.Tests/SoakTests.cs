using System.Diagnostics;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;
using Xunit.Abstractions;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Round after round, fio writes through the agent while a randomly chosen hop (the agent, the process server node or
/// the master target node) is killed with SIGKILL at a random moment and restarted; after every round a bookmark must
/// recover to exactly the source disk. CI runs three rounds, one per kind of hop. `tests/soak.sh MINUTES` (which sets
/// SR_SOAK_MINUTES) keeps going for that long; SR_SOAK_SEED replays a run's choices.
/// </summary>
public sealed class SoakTests(ITestOutputHelper output)
{
    const long DiskSize = 128L << 20;

    [Fact]
    public async Task Random_kills_of_any_hop_under_load_lose_nothing()
    {
        var minutes = double.TryParse(Environment.GetEnvironmentVariable("SR_SOAK_MINUTES"), System.Globalization.CultureInfo.InvariantCulture, out var m) && m > 0 ? m : 0;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SR_SOAK_SEED"), out var s) ? s : Random.Shared.Next();
        var rng = new Random(seed);
        output.WriteLine($"soak: seed {seed}, {(minutes > 0 ? $"{minutes} minutes" : "three rounds (CI)")}");

        using var site = await TwoNodeSite.StartAsync("soak", DiskSize, seed: 41);
        var hops = new (string Name, Action Kill, Func<Task> Start)[]
        {
            ("agent", site.Agent.Kill9, () => site.Agent.StartAsync()),
            ("process server", site.B.Kill9, () => site.B.StartAsync()),
            ("master target", site.A.Kill9, () => site.A.StartAsync()),
        };
        var kills = new int[hops.Length];
        var clock = Stopwatch.StartNew();
        for (var round = 1; minutes > 0 ? clock.Elapsed.TotalMinutes < minutes : round <= hops.Length; round++)
        {
            // CI covers each kind of hop once, in a random order; a long run picks freely.
            var victim = minutes > 0 ? rng.Next(hops.Length) : Order(seed)[round - 1];
            var hop = hops[victim];
            Process? fioProcess = null;
            var fio = ExternalTool.RunAsync("fio", Tools.FioRandWrite(site.Agent.Uri(TwoNodeSite.Disk), $"soak{round}", (int)(DiskSize >> 20), 64, rate: ",32m"),
                TimeSpan.FromMinutes(3), started: p => fioProcess = p);
            var delay = TimeSpan.FromMilliseconds(rng.Next(200, 1800)); // the paced job runs about 2 s
            await Task.WhenAny(fio, Task.Delay(delay));
            var midWorkload = !fio.IsCompleted;
            hop.Kill();
            if (victim == 0)
            {
                // The writer's block device died under it. A paced fio can keep retrying and printing until its timeout
                // (its output once filled this process's memory), so it goes the way a VM's I/O would: it is stopped.
                await Task.WhenAny(fio, Task.Delay(2000));
                if (!fio.IsCompleted) try { fioProcess?.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            }
            await Task.Delay(rng.Next(100, 1000));
            await hop.Start();
            kills[victim]++;
            var result = await fio;
            // fio's connection is to the agent: it fails when the agent dies under it, and must not when a node does.
            if (victim != 0)
                Assert.True(result.ExitCode == 0, $"round {round} (seed {seed}): fio failed while the {hop.Name} was killed and restarted\n{result.Output}\n{site.Logs()}");
            await site.AssertRecoveryEqualsSourceAsync($"soak-{round}");
            output.WriteLine($"round {round}: killed the {hop.Name} after {delay.TotalMilliseconds:0} ms ({(midWorkload ? "mid-workload" : "after fio ended")}); " +
                             $"recovered byte for byte at {clock.Elapsed.TotalSeconds:0} s");
        }
        output.WriteLine($"soak: {kills.Sum()} kills (agent {kills[0]}, process server {kills[1]}, master target {kills[2]}) in {clock.Elapsed.TotalSeconds:0} s, nothing lost");
    }

    static int[] Order(int seed)
    {
        var order = new[] { 0, 1, 2 };
        new Random(seed ^ 0x5eed).Shuffle(order);
        return order;
    }
}

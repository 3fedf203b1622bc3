using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Group bookmarks across two agent processes of one srnode while fio writes to both machines at the same time.
/// The independent checker is a ping-pong writer with its own NBD clients (qemu-io): step i writes block i on
/// machine 1, waits for the reply, then block i on machine 2, waits, then step i+1. So block i on machine 1 is
/// acknowledged before block i on machine 2 is issued, and that one before block i+1 on machine 1. A consistent
/// cut therefore holds blocks 1..a on machine 1 and 1..b on machine 2 with a-1 ≤ b ≤ a; per-machine bookmarks
/// taken at slightly different moments would break it.
/// </summary>
public sealed class GroupBookmarkTests
{
    const long DiskSize = 64L << 20;
    const long PingPongBase = 40L << 20;
    const int Block = 4096;
    const int MaxSteps = 4096; // 16 MiB of ping-pong region, past fio's 32 MiB

    static byte Pattern(int step) => (byte)(step % 250 + 1);

    [Fact]
    public async Task Group_bookmarks_under_fio_on_two_machines_recover_a_consistent_cut_and_writes_go_on()
    {
        using var dir = new TempDir("group-bookmarks");
        Files.CreateDisk(dir["vm1.img"], DiskSize, seed: 11);
        Files.CreateDisk(dir["vm2.img"], DiskSize, seed: 12);
        using var node = new Node("n", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using var vm1 = new Agent("vm1", new Dictionary<string, string> { ["vm1-d1"] = dir["vm1.img"] }, node.PsAddress, dir["a1"], dir.Path);
        using var vm2 = new Agent("vm2", new Dictionary<string, string> { ["vm2-d1"] = dir["vm2.img"] }, node.PsAddress, dir["a2"], dir.Path);
        await Task.WhenAll(vm1.StartAsync(), vm2.StartAsync());

        var api = node.Api;
        var settings = new { multiVmConsistency = true, rpoThreshold = "00:15:00", retentionWindow = "1.00:00:00", appConsistentFrequency = "04:00:00" };
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups", new { groupId = "pg1", vault = "v1", settings })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups/pg1/machines/vm1", new { })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups/pg1/machines/vm2", new { })).Status);

        // Bad input: each is refused naming the field, and nothing is taken.
        Assert.Contains("bookmark", (await ExpectAsync(api, "api/protection-groups/pg1/bookmarks", new { kind = "crash" }, HttpStatusCode.BadRequest)).Error);
        Assert.Contains("kind", (await ExpectAsync(api, "api/protection-groups/pg1/bookmarks", new { bookmark = "x", kind = "fuzzy" }, HttpStatusCode.BadRequest)).Error);
        Assert.Contains("timeoutMs", (await ExpectAsync(api, "api/protection-groups/pg1/bookmarks", new { bookmark = "x", timeoutMs = 1 }, HttpStatusCode.BadRequest)).Error);
        Assert.Contains("nope", (await ExpectAsync(api, "api/protection-groups/nope/bookmarks", new { bookmark = "x" }, HttpStatusCode.NotFound)).Error);
        Assert.Contains("machines", (await ExpectAsync(api, "api/group-bookmarks", new { bookmark = "x" }, HttpStatusCode.BadRequest)).Error);
        Assert.Contains("ghost", (await ExpectAsync(api, "api/group-bookmarks", new { bookmark = "x", machines = new[] { "vm1", "ghost" } }, HttpStatusCode.Conflict)).Error);

        // Initial replication first: until it completes the agents refuse to hold (no consistent point yet).
        var first = await GroupBookmarkAsync(api, "gb-0", TimeSpan.FromSeconds(90));
        Assert.Equal("CrashConsistent", first["kind"]!.GetValue<string>());

        using var stop = new CancellationTokenSource();
        var pingPong = PingPongAsync(vm1.Uri("vm1-d1"), vm2.Uri("vm2-d1"), stop.Token);
        var fio1 = ExternalTool.RunOkAsync("fio", FioLoad(vm1.Uri("vm1-d1"), "load1"), TimeSpan.FromMinutes(3));
        var fio2 = ExternalTool.RunOkAsync("fio", FioLoad(vm2.Uri("vm2-d1"), "load2"), TimeSpan.FromMinutes(3));

        var taken = new List<(string Name, JsonNode Result, int StepsDone)>();
        for (var i = 1; i <= 4; i++)
        {
            await Task.Delay(700);
            var name = $"gb-{i}";
            var r = await GroupBookmarkAsync(api, name, TimeSpan.FromSeconds(60));
            taken.Add((name, r, PingPongSteps));
        }
        await Task.WhenAll(fio1, fio2);
        // Writes go on after the bookmarks: the checker keeps stepping (bounded wait, never a timing assertion).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (PingPongSteps < taken[^1].StepsDone + 20 && DateTime.UtcNow < deadline && !pingPong.IsCompleted) await Task.Delay(50);
        await stop.CancelAsync();
        var done = await pingPong;
        Assert.True(done > taken[^1].StepsDone, $"the ping-pong writer made no progress after the last bookmark ({done} steps)");

        // srctl takes the last one (also checks its JSON); nothing writes now, so the sources are its reference.
        var ctl = await ExternalTool.RunOkAsync("dotnet", [Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll"),
            "bookmark", "--group", "pg1", "--name", "gb-final", "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        var final = JsonNode.Parse(ctl.StdOut)!;
        Assert.Equal("Committed", final["outcome"]!.GetValue<string>());

        foreach (var (name, result, _) in taken.Append(("gb-final", final, done)))
        {
            var seq1 = result["sequences"]!["vm1-d1"]!.GetValue<long>();
            var seq2 = result["sequences"]!["vm2-d1"]!.GetValue<long>();
            Assert.Equal(result["held"]!["vm1-d1"]!.GetValue<long>() + 1, seq1);
            Assert.Equal(result["held"]!["vm2-d1"]!.GetValue<long>() + 1, seq2);
            var img1 = dir[$"vm1.{name}.img"];
            var img2 = dir[$"vm2.{name}.img"];
            await node.RecoverAsync("vm1-d1", name, img1);
            await node.RecoverAsync("vm2-d1", name, img2);
            var a = Written(img1, name, "vm1");
            var b = Written(img2, name, "vm2");
            Assert.True(a - 1 <= b && b <= a, $"{name}: inconsistent cut: machine 1 has ping-pong steps 1..{a}, machine 2 has 1..{b} (want {a - 1} or {a})");
            if (name != "gb-final") Assert.True(a > 0, $"{name}: taken while the ping-pong writer ran, yet no step is in it");
            else
            {
                Assert.Equal(Files.Sha256(dir["vm1.img"]), Files.Sha256(img1));
                Assert.Equal(Files.Sha256(dir["vm2.img"]), Files.Sha256(img2));
                Assert.Equal(done, a);
            }
        }

        foreach (var disk in new[] { "vm1-d1", "vm2-d1" })
        {
            var view = (await api.GetAsync($"api/disks/{disk}")).Body!;
            var points = view["recoveryPoints"]!.AsArray().Where(p => p!["bookmarkId"]!.GetValue<string>().StartsWith("gb-", StringComparison.Ordinal)).ToList();
            Assert.Equal(6, points.Count);
            Assert.All(points, p => Assert.Equal("CrashConsistent", p!["kind"]!.GetValue<string>()));
        }
        var stalls = (await api.GetAsync("api/group-bookmarks/stalls")).Body!;
        // The node's own schedule may have taken group bookmarks too (the group asks for app-consistent points).
        Assert.True(stalls["count"]!.GetValue<int>() >= 6, stalls.ToJsonString());
    }

    static string[] FioLoad(string uri, string name) =>
    [
        $"--name={name}", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bs=64k", "--iodepth=4",
        "--size=32M", "--time_based", "--runtime=5", "--rate=20m", "--randrepeat=0", "--output-format=terse",
    ];

    static async Task<ApiResponse> ExpectAsync(Api api, string path, object body, HttpStatusCode want)
    {
        var r = await api.PostAsync(path, body);
        Assert.True(r.Status == want, $"POST {path}: got {(int)r.Status} {r.Text}, want {(int)want}");
        return r;
    }

    static async Task<JsonNode> GroupBookmarkAsync(Api api, string name, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var r = await api.PostAsync("api/protection-groups/pg1/bookmarks", new { bookmark = name, kind = "crash", timeoutMs = 10_000 });
            if (r.Status == HttpStatusCode.OK) return r.Body!;
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException($"group bookmark {name}: {(int)r.Status} {r.Text}");
            await Task.Delay(300);
        }
    }

    static int _steps;
    static int PingPongSteps => Volatile.Read(ref _steps);

    /// <summary>Alternates 4 KiB writes between the machines, each waiting for the previous reply; returns the steps completed on both.</summary>
    static async Task<int> PingPongAsync(string uri1, string uri2, CancellationToken stop)
    {
        Volatile.Write(ref _steps, 0);
        await using var m1 = QemuIoSession.Start(uri1);
        await using var m2 = QemuIoSession.Start(uri2);
        var step = 0;
        while (!stop.IsCancellationRequested && step < MaxSteps)
        {
            var next = step + 1;
            var at = PingPongBase + (long)(next - 1) * Block;
            await m1.WriteAsync($"write -P {Pattern(next)} {at} {Block}");
            await m2.WriteAsync($"write -P {Pattern(next)} {at} {Block}");
            step = next;
            Volatile.Write(ref _steps, step);
            await Task.Delay(2, CancellationToken.None);
        }
        return step;
    }

    /// <summary>How many ping-pong steps the image holds, checking they form a prefix (no step after a missing one).</summary>
    static int Written(string image, string bookmark, string machine)
    {
        using var f = File.OpenRead(image);
        var buffer = new byte[Block];
        var count = 0;
        var ended = false;
        for (var step = 1; step <= MaxSteps; step++)
        {
            f.Position = PingPongBase + (long)(step - 1) * Block;
            f.ReadExactly(buffer);
            var present = buffer.AsSpan().IndexOfAnyExcept(Pattern(step)) < 0;
            if (present && ended) throw new Xunit.Sdk.XunitException($"{bookmark} on {machine}: ping-pong step {step} is present although step {count + 1} is missing");
            if (present) count = step;
            else ended = true;
        }
        return count;
    }
}

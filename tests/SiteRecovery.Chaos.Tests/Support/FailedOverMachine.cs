using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// Where the commit, reprotect and failback tests start: the tiny guest on a boot disk (and a data disk, 8 MiB of it
/// 0x11 unless not seeded) protected by a real agent to a target node that runs every role, then moved there by a
/// planned failover of the plan "move", completed. Its machine runs at the target on images of its own; the source
/// agent still runs (read-only since the failover's stop) for the test to stop when its story says. The original site
/// is each test's own.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FailedOverMachine : IDisposable
{
    public const int BootMb = 64;
    public const int DataMb = 32;
    public const int Block = 1 << 20;
    public const string MachineId = "vm1";

    FailedOverMachine(TempDir dir, Node target, Agent source, string boot, string? data, TlsSite? tls)
    {
        (Dir, Target, Source, Boot, Data, Tls) = (dir, target, source, boot, data, tls);
    }

    /// <summary>
    /// With <c>requireTls</c>: the site whose authority is the target (configuration server cs1 there); every data-path
    /// listener requires mutual TLS, the source agent and the original site registered with it.
    /// </summary>
    public TlsSite? Tls { get; }

    public TempDir Dir { get; }
    public Node Target { get; }
    public Agent Source { get; }

    /// <summary>The machine's original disk files at the source (a reprotect's original site keeps them as its replicas).</summary>
    public string Boot { get; }
    public string? Data { get; }

    /// <summary>SHA-256 of the data the guest checks at each boot (its <c>SR-CHECK OK</c> line names it).</summary>
    public string GuestSha { get; private set; } = "";
    public string Job { get; private set; } = "";

    /// <summary>The failover job as it stood when it completed.</summary>
    public JsonNode Completed { get; private set; } = null!;

    public JsonNode Machine => Completed["machines"]!.AsArray().Single()!;
    public int MachinePid => Machine["pid"]!.GetValue<int>();
    public string Console => Machine["consolePath"]!.GetValue<string>();

    /// <summary>The machine's work folder at the target: its images (<c>DISK.img</c>) and its reverse agent's folder.</summary>
    public string Work => Path.Combine(Target.DataDir, "failover", Job, MachineId);
    public string ReverseAgentFolder => Path.Combine(Work, "reverse-agent");
    public string FailedOverImage(string disk) => Path.Combine(Work, disk + ".img");

    /// <summary>The qemu drive (<c>diskN</c>) that serves <paramref name="disk"/> in the running machine.</summary>
    public string Drive(string disk) => $"disk{Machine["disks"]!.AsArray().Select(d => d!["diskId"]!.GetValue<string>()).ToList().IndexOf(disk)}";

    /// <summary>
    /// A node of the original site whose master target keeps the machine's original disk files as its replicas; with TLS
    /// required it registers its roles with the target's site, as a data node of that site does.
    /// </summary>
    public Node OriginalSite() => new("orig", "process-server,master-target", Dir["o"], Dir.Path, null,
        [.. new[] { ("vm1-boot", Boot), ("vm1-data", Data) }.Where(d => d.Item2 is not null).SelectMany(d => new[] { "--replica-file", $"{d.Item1}={d.Item2}" }),
         .. Tls is null ? Array.Empty<string>() : [.. Tls.RegisterArgs, "--config", TlsSite.RequiredTlsConfig(Dir, "orig")]]);

    public static async Task<FailedOverMachine> StartAsync(string name, bool dataDisk = true, bool seedData = true, bool requireTls = false)
    {
        var dir = new TempDir(name);
        Node? target = null;
        Agent? source = null;
        try
        {
            const string failover = "siterecovery.failover { boot-timeout = 150s }\n";
            var conf = requireTls ? TlsSite.RequiredTlsConfig(dir, "tgt", failover) : dir["failover.conf"];
            if (!requireTls) await File.WriteAllTextAsync(conf, failover);
            target = new Node("tgt", "all", dir["t"], dir.Path, null, "--config", conf);
            await target.StartAsync();
            // The target is the site's authority: its own roles certified themselves at start; the source agent registers.
            var tls = requireTls ? await TlsSite.OnAsync(target, dir) : null;
            if (tls is not null) await tls.RegisterAgentAsync(MachineId, dir["agent-src"]);
            var disks = new Dictionary<string, string> { ["vm1-boot"] = dir["vm1-boot.img"] };
            if (dataDisk) disks["vm1-data"] = dir["vm1-data.img"];
            foreach (var (disk, path) in disks)
                await using (var f = new FileStream(path, FileMode.Create)) f.SetLength((disk == "vm1-boot" ? BootMb : DataMb) << 20);
            source = new Agent(MachineId, disks, target.PsAddress, dir["agent-src"], dir.Path);
            var site = new FailedOverMachine(dir, target, source, disks["vm1-boot"], dataDisk ? disks["vm1-data"] : null, tls);
            await source.StartAsync();
            site.GuestSha = await GuestMachines.SeedAsync(source.Uri("vm1-boot"), dir.Path, 7);
            if (dataDisk && seedData)
                await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", source.Uri("vm1-data"), "-c", "write -P 0x11 0 8M"], TimeSpan.FromMinutes(1));
            await target.BookmarkAsync("seeded", [.. disks.Keys], TimeSpan.FromSeconds(60));
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync("api/vaults", new { name = "dr", region = "WestEurope" })).Status);
            var plan = await target.Api.PostAsync("api/recovery-plans", new { planId = "move", vault = "dr", groups = new[] { new { machines = new[] { MachineId } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);
            var start = await target.Api.PostAsync("api/failovers", new { plan = "move", kind = "planned" });
            Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
            site.Job = start.Body!["jobId"]!.GetValue<string>();
            site.Completed = await FailoverTests.UntilAsync(target, site.Job, j => FailoverTests.Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(4));
            Assert.True(FailoverTests.Status(site.Completed) == "Completed", site.Completed.ToJsonString());
            return site;
        }
        catch
        {
            // What was started is stopped; the directory's own dispose stops the failover's machine, under it.
            source?.Dispose();
            target?.Dispose();
            dir.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Source.Dispose();
        Target.Dispose();
        Dir.Dispose();
    }
}

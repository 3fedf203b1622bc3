using System.Net;
using SiteRecovery.Agent;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Agent;

/// <summary>Start-up checks of the freeze flags: each bad value is an error naming the flag and the value.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FreezeOptionsTests : IDisposable
{
    readonly string _dir = Tools.TempDirectory("freeze-options");

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    string Executable(string name)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    static string Error(FreezeOptions o, params (string, string)[] agentPaths) =>
        Assert.Throws<ArgumentException>(() => o.Validate(agentPaths)).Message;

    [Fact]
    public void Bad_values_are_refused_naming_the_flag()
    {
        var missing = Path.Combine(_dir, "missing.sh");
        Assert.Contains($"--freeze-script '{missing}' does not exist", Error(new FreezeOptions([missing], [])));
        var plain = Path.Combine(_dir, "plain.sh");
        File.WriteAllText(plain, "exit 0");
        Assert.Contains($"--freeze-script '{plain}' is not executable", Error(new FreezeOptions([plain], [])));
        Assert.Contains("--freeze-script '" + _dir + "' is a directory", Error(new FreezeOptions([_dir], [])));
        var ok = Executable("ok.sh");
        Assert.Contains("is given twice", Error(new FreezeOptions([ok, ok], [])));
        Assert.Contains($"--freeze-mount {_dir}: '{_dir}' is not a mount point", Error(new FreezeOptions([], [_dir])));
        Assert.Contains("--hook-timeout 0", Error(new FreezeOptions([ok], []) { HookTimeout = TimeSpan.Zero }));
        Assert.Contains("--hook-timeout 601", Error(new FreezeOptions([ok], []) { HookTimeout = TimeSpan.FromSeconds(601) }));
    }

    [Fact]
    public void The_filesystem_holding_the_agents_own_files_cannot_be_frozen()
    {
        var holder = MountTable.MountOf(_dir)!;
        var state = Path.Combine(_dir, "state");
        var message = Error(new FreezeOptions([], [holder]), ("state directory", state));
        Assert.Contains($"--freeze-mount {holder}", message);
        Assert.Contains($"state directory ('{state}')", message);
    }

    [Fact]
    public async Task The_agent_builds_its_freezer_from_the_options_scripts_first_then_mounts_then_vss()
    {
        var disk = Path.Combine(_dir, "disk.img");
        await using (var f = File.Create(disk)) f.SetLength(1 << 20);
        var a = Executable("a.sh");
        var b = Executable("b.sh");
        var options = new AgentOptions("vm1", [new AgentDisk("d1", disk)], new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Loopback, 1), Path.Combine(_dir, "state"))
        {
            Freeze = new FreezeOptions([a, b], ["/"], Vss: true) { HookTimeout = TimeSpan.FromSeconds(3) },
        };
        // "/" holds the agent's disk here, so a freeze of it is refused; without the mount the rest builds.
        Assert.Contains("--freeze-mount /", Assert.Throws<ArgumentException>(() => new MobilityAgent(options, _ => { })).Message);
        options = options with { Freeze = options.Freeze with { Mounts = [] } };
        await using var agent = new MobilityAgent(options, _ => { });
        Assert.True(agent.Freezer.Configured);
        Assert.Equal(TimeSpan.FromSeconds(3), agent.Freezer.HookTimeout);
        Assert.Equal([$"script {a}", $"script {b}", "vss"], agent.Freezer.Hooks.Select(h => h.Name));
        Assert.False(new MobilityAgent(options with { Freeze = FreezeOptions.None }, _ => { }).Freezer.Configured);
    }
}

using System.Diagnostics;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// fsfreeze on a real ext4 loop mount: while frozen a write from another process blocks, after the thaw it completes.
/// Needs root and loop devices; where mounting is refused the real freeze test is skipped with the reason, and the
/// Missing cases still run.
/// </summary>
public sealed class FsFreezeHookTests : IDisposable
{
    readonly string _dir = Tools.TempDirectory("fsfreeze");

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    [Fact]
    public async Task A_directory_that_is_not_a_mount_point_is_Missing_and_named()
    {
        var hook = new FsFreezeHook(_dir);
        var r = await hook.FreezeAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Equal(HookOutcome.Missing, r.Outcome);
        Assert.Contains($"'{_dir}' is not a mount point", r.Detail);
        var gone = await new FsFreezeHook(Path.Combine(_dir, "nope")).FreezeAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Equal(HookOutcome.Missing, gone.Outcome);
        Assert.Contains("does not exist", gone.Detail);
    }

    [Fact]
    public void The_mount_table_knows_the_root_and_which_mount_holds_a_path()
    {
        Assert.True(MountTable.IsMountPoint("/"));
        Assert.False(MountTable.IsMountPoint(_dir));
        var holder = MountTable.MountOf(Path.Combine(_dir, "file"));
        Assert.NotNull(holder);
        Assert.StartsWith(holder == "/" ? "/" : holder + "/", _dir + "/", StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_frozen_loop_mount_blocks_a_writer_until_the_thaw()
    {
        var image = Path.Combine(_dir, "fs.img");
        var mount = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(mount);
        await using (var f = File.Create(image)) f.SetLength(32L << 20);
        var mkfs = await RunAsync("mkfs.ext4", "-q", "-F", image);
        Assert.True(mkfs.ExitCode == 0, $"mkfs.ext4 failed: {mkfs.Output}");
        var mounted = await RunAsync("mount", "-o", "loop", image, mount);
        Skip.If(mounted.ExitCode != 0, $"this environment cannot mount a loop device, so fsfreeze cannot be exercised: {mounted.Output}");

        Process? writer = null;
        try
        {
            await using var freezer = new ApplicationFreezer([new FsFreezeHook(mount)], TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), _ => { });
            Assert.Equal(HookResult.Success, await freezer.FreezeAsync(CancellationToken.None));
            var target = Path.Combine(mount, "written.txt");
            writer = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", $"echo after-thaw > '{target}'" } })!;
            await Task.Delay(1000);
            Assert.False(writer.HasExited, "a write to the frozen filesystem finished while it was frozen");
            Assert.NotEqual("after-thaw\n", File.Exists(target) ? File.ReadAllText(target) : null);

            Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await writer.WaitForExitAsync(wait.Token);
            Assert.Equal(0, writer.ExitCode);
            Assert.Equal("after-thaw\n", File.ReadAllText(target));

            // A thaw of a filesystem that is not frozen is what a thaw wants: it succeeds.
            Assert.Equal(HookResult.Success, await new FsFreezeHook(mount).ThawAsync(TimeSpan.FromSeconds(30), CancellationToken.None));
        }
        finally
        {
            // Whatever failed above, never leave the filesystem frozen or mounted.
            await RunAsync("fsfreeze", "--unfreeze", mount);
            if (writer is { HasExited: false }) await writer.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            writer?.Dispose();
            if ((await RunAsync("umount", mount)).ExitCode != 0) await RunAsync("umount", "-l", mount);
        }
    }

    static Task<ProcessRun> RunAsync(string tool, params string[] args) => ExternalTool.RunAsync(tool, args, TimeSpan.FromSeconds(60));
}

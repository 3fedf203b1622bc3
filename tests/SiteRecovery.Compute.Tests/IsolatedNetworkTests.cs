using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

// An isolation group's network namespace (IsolatedNetwork) with real qemu. What is proved is structural — the links and
// namespaces the kernel reports, and that the namespace cannot reach the host's loopback — not a packet from the guest:
// the tiny guest loads no network driver and configures no address (tests/images/build-tiny-guest.sh), and its image
// is not ours to change.

public class IsolatedNetworkNameTests
{
    [Theory]
    [InlineData("job-42")]
    [InlineData("Job/ÄB c:1234567890-very-long-name-of-a-drill")]
    [InlineData("---")]
    [InlineData("x")]
    public void A_namespace_name_is_bounded_and_safe_whatever_the_group(string group)
    {
        var ns = IsolatedNetwork.NamespaceName(group);
        Assert.Matches("^sr-([a-z0-9][a-z0-9-]{0,15}-)?[0-9a-f]{8}$", ns);
        Assert.True(ns.Length <= 3 + 16 + 1 + 8, $"got {ns.Length} chars ({ns}), want at most 28");
        Assert.Equal(ns, IsolatedNetwork.NamespaceName(group)); // derived, so a restarted node finds it again
    }

    [Fact]
    public void Groups_differing_only_beyond_the_readable_part_get_different_namespaces()
    {
        Assert.NotEqual(IsolatedNetwork.NamespaceName("drill-of-the-payroll-app-1"), IsolatedNetwork.NamespaceName("drill-of-the-payroll-app-2"));
        Assert.NotEqual(IsolatedNetwork.NamespaceName("a/b"), IsolatedNetwork.NamespaceName("a:b"));
    }

    [Fact]
    public void A_tap_name_fits_linux_interface_names()
    {
        var tap = IsolatedNetwork.TapName("sr-0123456789abcdef");
        Assert.Matches("^srt[0-9a-f]{12}$", tap);
        Assert.Equal(15, tap.Length);
        Assert.NotEqual(tap, IsolatedNetwork.TapName("sr-0123456789abcdee"));
    }

    [Fact]
    public void The_command_line_uses_the_tap_when_given_one_and_user_mode_restrict_otherwise()
    {
        var spec = new MachineSpec("m-1", "web-01", 768, 2, "bios", NetworkMode.Isolated, "10.0.0.7", "/srv/m-1", "job-1");
        IReadOnlyList<string> Build(MachineSpec s, string? tap) =>
            QemuCommandLine.Build(s, [new DiskSource("d", "nbd://127.0.0.1:1/d", 1 << 20)], "tcg", "sr-0123456789abcdef", "/c.log", "/q.pid", null, tap);

        var tapped = Build(spec, "srt0123456789ab");
        Assert.Equal("tap,id=n0,ifname=srt0123456789ab,script=no,downscript=no", tapped[tapped.ToList().IndexOf("-netdev") + 1]);
        Assert.Equal("srt0123456789ab", QemuCommandLine.TapOf(tapped));
        Assert.DoesNotContain(tapped, a => a.Contains("restrict", StringComparison.Ordinal));

        var user = Build(spec, null);
        Assert.StartsWith("user,id=n0,restrict=on", user[user.ToList().IndexOf("-netdev") + 1]);
        Assert.Null(QemuCommandLine.TapOf(user));

        var ex = Assert.Throws<ArgumentException>(() => Build(spec with { Network = NetworkMode.Production }, "srt0123456789ab"));
        Assert.Contains("a tap is for an isolated network, not Production", ex.Message);
    }
}

/// <summary>Shared: a temp root, a unique group per test, and <c>ip</c> read-outs independent of the code under test.</summary>
public abstract class IsolatedGroupTest(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    protected static async Task<ProcessRun> Ip(params string[] args) =>
        await BoundedProcess.RunAsync(BoundedProcess.FindCommand("ip")!, args, null, TimeSpan.FromSeconds(15), CancellationToken.None);

    protected static bool NamespaceExists(string ns) => File.Exists(Path.Combine("/run/netns", ns));

    /// <summary>True when <paramref name="link"/> exists in <paramref name="ns"/> (null: the host namespace).</summary>
    protected static async Task<bool> LinkExists(string? ns, string link) =>
        (await (ns is null ? Ip("link", "show", "dev", link) : Ip("-n", ns, "link", "show", "dev", link))).ExitCode == 0;

    protected static async Task AssertNothingLeft(string ns, params string[] taps)
    {
        Assert.False(NamespaceExists(ns), $"namespace {ns} is left after the group's last machine stopped");
        foreach (var tap in taps)
            Assert.False(await LinkExists(null, tap), $"tap {tap} is left in the host namespace");
    }

    /// <summary>An isolated spec in the group <paramref name="group"/>.</summary>
    protected MachineSpec Spec(string name, string group) => TinyGuest.Spec(Root, name) with { IsolationGroup = group };
}

public sealed class IsolatedGroupBootTests(ITestOutputHelper output) : IsolatedGroupTest(output)
{
    [Fact]
    public async Task Two_machines_of_one_group_share_its_bridge_in_a_namespace_of_their_own_boot_and_leave_nothing()
    {
        // A group that needs sanitizing (slash, space, colon, non-ASCII, longer than a name may be).
        var group = $"Test failover/Ä {Guid.NewGuid():N}: app+db";
        var ns = IsolatedNetwork.NamespaceName(group);
        var image = await TinyGuestImage.PathAsync();
        await using var appDisk = await NbdExport.CopyOfAsync(image, "app");
        await using var dbDisk = await NbdExport.CopyOfAsync(image, "db");

        // Two targets, started together: the group's namespace is made once, both join it.
        var starts = new[]
        {
            new LocalQemuTarget().StartAsync(Spec("app", group), [new DiskSource("d-app", appDisk.Uri, TinyGuest.ImageBytes)], Ct),
            new LocalQemuTarget().StartAsync(Spec("db", group), [new DiskSource("d-db", dbDisk.Uri, TinyGuest.ImageBytes)], Ct),
        };
        MachineHandle[] both;
        try { both = await Task.WhenAll(starts); }
        catch
        {
            foreach (var s in starts.Where(s => s.IsCompletedSuccessfully)) await Target.StopAsync(await s, Ct);
            if (NamespaceExists(ns)) await Ip("netns", "del", ns);
            throw;
        }
        var (app, db) = (both[0], both[1]);
        var (appTap, dbTap) = (IsolatedNetwork.TapName(app.InstanceId), IsolatedNetwork.TapName(db.InstanceId));
        try
        {
            foreach (var (m, tap) in new[] { (app, appTap), (db, dbTap) })
            {
                Output.WriteLine($"{m.MachineId}: {m.Isolation}");
                Assert.Equal($"netns {ns} bridge br0 tap {tap}", m.Isolation);
                Assert.Equal(ns, m.NetworkNamespace);
                // qemu's NIC is the tap; qemu itself stays in the host namespace (its NBD disks are on 127.0.0.1).
                var cmdline = File.ReadAllText($"/proc/{m.Pid}/cmdline").Split('\0');
                Assert.Contains($"tap,id=n0,ifname={tap},script=no,downscript=no", cmdline);
                Assert.DoesNotContain(cmdline, a => a.Contains("restrict=on", StringComparison.Ordinal));
                Assert.Equal(new FileInfo("/proc/self/ns/net").LinkTarget, new FileInfo($"/proc/{m.Pid}/ns/net").LinkTarget);
                // The namespace is recorded in the machine's folder, for a restarted node.
                Assert.Contains($"\"NetworkNamespace\":\"{ns}\"", File.ReadAllText(Path.Combine(Path.GetDirectoryName(m.ConsolePath)!, LocalQemuTarget.HandleFileName)));
            }

            Assert.True(NamespaceExists(ns), $"namespace {ns} does not exist");
            var links = await Ip("-n", ns, "-o", "link", "show");
            Output.WriteLine(links.StdOut);
            Assert.Contains(": br0: <", links.StdOut);
            Assert.Contains($": {appTap}: <", links.StdOut);
            Assert.Contains($": {dbTap}: <", links.StdOut);
            // Nothing else: no veth or other link leads out of the namespace.
            Assert.Equal(4, links.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            var bridged = (await Ip("-n", ns, "-o", "link", "show", "master", "br0")).StdOut;
            Assert.Contains($": {appTap}: <", bridged);
            Assert.Contains($": {dbTap}: <", bridged);
            Assert.Contains("state UP", (await Ip("-n", ns, "-o", "link", "show", "dev", "br0")).StdOut);
            Assert.Empty((await Ip("-n", ns, "route", "show")).StdOut.Trim());
            Assert.False(await LinkExists(null, appTap), $"tap {appTap} is still in the host namespace");
            Assert.False(await LinkExists(null, dbTap), $"tap {dbTap} is still in the host namespace");

            // From inside the namespace the host's loopback (where the disks are served) is out of reach; from the host it is not.
            var probe = $"exec 3<>/dev/tcp/127.0.0.1/{appDisk.Port}";
            Assert.Equal(0, (await BoundedProcess.RunAsync("bash", ["-c", probe], null, TimeSpan.FromSeconds(10), Ct)).ExitCode);
            var inside = await Ip("netns", "exec", ns, "bash", "-c", probe);
            Assert.NotEqual(0, inside.ExitCode);
            Output.WriteLine($"from {ns}: {BoundedProcess.Quote(inside)}");

            // Both boot with their NIC moved under them.
            var bootApp = BootAsync(app);
            var bootDb = BootAsync(db);
            Assert.True((await bootApp).Booted, (await bootApp).Failure);
            Assert.True((await bootDb).Booted, (await bootDb).Failure);
            // Carrier on a tap means a descriptor is attached to it: qemu's, which the move did not disturb.
            Assert.Contains("LOWER_UP", (await Ip("-n", ns, "-o", "link", "show", "dev", appTap)).StdOut);
            Assert.Contains("LOWER_UP", (await Ip("-n", ns, "-o", "link", "show", "dev", dbTap)).StdOut);

            // The first machine stops: its tap goes, the namespace stays for the other.
            await new LocalQemuTarget().StopAsync(app, Ct);
            AssertGone(app);
            Assert.False(await LinkExists(ns, appTap), $"tap {appTap} is left in {ns}");
            Assert.True(NamespaceExists(ns), $"namespace {ns} was deleted while {db.MachineId} still runs in it");
            Assert.True(await LinkExists(ns, dbTap));

            // The last one is stopped the way a node's cleanup does it: a handle rebuilt from the job's record (no
            // namespace in it), then the folder's leftovers; machine.json names the namespace.
            var fromJob = new MachineHandle(db.Target, db.MachineId, db.InstanceId, db.Pid, db.ConsolePath, db.Accelerator, db.StartedAt);
            await new LocalQemuTarget().StopAsync(fromJob, Ct);
            Assert.Null(await new LocalQemuTarget().StopLeftoverAsync(Path.GetDirectoryName(db.ConsolePath)!, Ct));
            AssertGone(db);
            await AssertNothingLeft(ns, appTap, dbTap);
            Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(db.ConsolePath)!, LocalQemuTarget.NetnsFileName)), "the netns record is left");
        }
        finally
        {
            await Target.StopAsync(app, Ct);
            await Target.StopAsync(db, Ct);
            if (NamespaceExists(ns)) await Ip("netns", "del", ns); // only ours: derived from this test's group
        }
    }
}

public sealed class IsolatedGroupLeftoverTests(ITestOutputHelper output) : IsolatedGroupTest(output)
{
    [Fact]
    public async Task A_start_killed_before_its_handle_was_written_leaves_no_namespace_after_the_folder_cleanup()
    {
        var group = $"leftover-{Guid.NewGuid():N}";
        var ns = IsolatedNetwork.NamespaceName(group);
        await using var blank = await NbdExport.BlankAsync(64 << 20, "blank");
        var spec = Spec("left", group);
        var machine = await Target.StartAsync(spec, [new DiskSource("d-blank", blank.Uri, 64 << 20)], Ct);
        var tap = IsolatedNetwork.TapName(machine.InstanceId);
        try
        {
            Assert.True(await LinkExists(ns, tap), $"tap {tap} is not in {ns}");
            // The node died before machine.json: only qemu.pid and the netns record know the machine.
            File.Delete(Path.Combine(spec.WorkDirectory, LocalQemuTarget.HandleFileName));
            var line = await new LocalQemuTarget().StopLeftoverAsync(spec.WorkDirectory, Ct);
            Assert.Equal($"an unrecorded machine in {spec.WorkDirectory} stopped (pid {machine.Pid})", line);
            Assert.False(TinyGuest.ProcessAlive(machine.Pid), $"qemu pid {machine.Pid} is still alive");
            await AssertNothingLeft(ns, tap);
            Assert.False(File.Exists(Path.Combine(spec.WorkDirectory, LocalQemuTarget.NetnsFileName)), "the netns record is left");
        }
        finally
        {
            await Target.StopAsync(machine, Ct);
            if (NamespaceExists(ns)) await Ip("netns", "del", ns);
        }
    }
}

public sealed class IsolatedGroupFallbackTests(ITestOutputHelper output) : IsolatedGroupTest(output)
{
    [Fact]
    public async Task Without_namespaces_or_without_a_group_isolated_is_user_mode_restrict_on_and_says_so()
    {
        var group = $"fallback-{Guid.NewGuid():N}";
        var ns = IsolatedNetwork.NamespaceName(group);
        await using var blank = await NbdExport.BlankAsync(64 << 20, "blank");
        var disks = new[] { new DiskSource("d-blank", blank.Uri, 64 << 20) };
        var cases = new[]
        {
            (Target: new LocalQemuTarget(new LocalTargetOptions { NetworkNamespaces = false }), Spec: Spec("off", group),
                Want: "user-mode restrict=on (network namespaces disabled by options)"),
            (Target: new LocalQemuTarget(), Spec: TinyGuest.Spec(Root, "nogroup"), Want: "user-mode restrict=on (no isolation group)"),
        };
        foreach (var c in cases)
        {
            var machine = await c.Target.StartAsync(c.Spec, disks, Ct);
            try
            {
                Output.WriteLine($"{machine.MachineId}: {machine.Isolation}");
                Assert.Equal(c.Want, machine.Isolation);
                Assert.Null(machine.NetworkNamespace);
                var cmdline = File.ReadAllText($"/proc/{machine.Pid}/cmdline").Split('\0');
                Assert.Contains(cmdline, a => a.StartsWith("user,id=n0,restrict=on", StringComparison.Ordinal));
                Assert.DoesNotContain(cmdline, a => a.StartsWith("tap,", StringComparison.Ordinal));
                Assert.False(NamespaceExists(ns), $"namespace {ns} was made for a user-mode machine");
                Assert.False(File.Exists(Path.Combine(c.Spec.WorkDirectory, LocalQemuTarget.NetnsFileName)));
            }
            finally
            {
                await c.Target.StopAsync(machine, Ct);
            }
            AssertGone(machine);
        }
    }

    [Fact]
    public async Task The_probe_finds_namespaces_usable_on_this_host()
    {
        // Root with iproute2 and /dev/net/tun (the test host): the probe says yes, and leaves none of its names behind.
        var choice = await IsolatedNetwork.ChooseAsync(null, Ct);
        Output.WriteLine(choice.Reason);
        Assert.True(choice.Namespaces, choice.Reason);
        Assert.False(NamespaceExists($"sr-probe-{Environment.ProcessId}"), "the probe's namespace is left");
        Assert.False(await LinkExists(null, $"srprobe{Environment.ProcessId}"), "the probe's tap is left");
    }
}

using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

// An isolation group's network namespace (IsolatedNetwork) with real qemu: the links and namespaces the kernel reports,
// and that the namespace cannot reach the host's loopback. The packets here are sent by stand-in guests attached to the
// bridge as a tap is (IsolatedGroupPacketTests); the tiny guest's own packets are in GuestNetworkBootTests.

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

/// <summary>
/// The isolation at packet level, on a group namespace made by the product (<see cref="IsolatedNetwork.EnsureAsync"/>).
/// Two stand-in guests take the guests' place (they need no boot, and hold a default gateway and the test's listeners):
/// each a network stack of its own (a namespace of the test's) whose one link is a veth, the veth's other end put on the group's bridge by
/// <see cref="IsolatedNetwork.AttachAsync"/> exactly as a machine's tap is (moved from the host namespace, enslaved to
/// br0, up). Each stand-in configures what a guest could: an address, loopback up, a default gateway on its subnet.
/// </summary>
public sealed class IsolatedGroupPacketTests(ITestOutputHelper output) : IsolatedGroupTest(output)
{
    sealed record StandIn(string Namespace, string Inner, string OnBridge, IPAddress Address);

    [Fact]
    public async Task Stand_in_guests_on_a_groups_bridge_reach_each_other_and_nothing_of_the_host()
    {
        var busybox = BoundedProcess.FindCommand("busybox") ?? throw new InvalidOperationException("busybox is not installed: run tests/setup.sh (busybox-static)");
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var ns = IsolatedNetwork.NamespaceName($"packet-{id}");
        // 198.18.0.0/15 (benchmarking) is routed nowhere on a real host; a random /24 of it keeps parallel runs apart.
        var subnet = $"198.18.{RandomNumberGenerator.GetInt32(256)}";
        var gateway = IPAddress.Parse($"{subnet}.254"); // nobody has it on an isolated bridge
        var a = new StandIn($"srpkt-{id}-a", $"srv{id}ai", $"srv{id}ab", IPAddress.Parse($"{subnet}.1"));
        var b = new StandIn($"srpkt-{id}-b", $"srv{id}bi", $"srv{id}bb", IPAddress.Parse($"{subnet}.2"));
        var (leakHost, leakBridge) = ($"srv{id}lh", $"srv{id}lb");
        var hostAddress = HostAddress();
        Output.WriteLine($"group namespace {ns}, stand-ins {a.Address} and {b.Address}, host address {hostAddress?.ToString() ?? "none but loopback"}");

        var loopback = new TcpListener(IPAddress.Loopback, 0);
        var external = hostAddress is null ? null : new TcpListener(hostAddress, 0);
        var listeners = new[] { loopback, external }.OfType<TcpListener>().ToList();
        Task<ProcessRun>? bListens = null;
        try
        {
            foreach (var l in listeners) l.Start();
            using (await IsolatedNetwork.LockAsync(ns, Ct))
            {
                await IsolatedNetwork.EnsureAsync(ns, Ct);
                foreach (var s in new[] { a, b })
                {
                    await IpOk("link", "add", s.OnBridge, "type", "veth", "peer", "name", s.Inner);
                    await IpOk("netns", "add", s.Namespace);
                    await IpOk("link", "set", "dev", s.Inner, "netns", s.Namespace);
                    await IsolatedNetwork.AttachAsync(s.OnBridge, ns, Ct);
                }
            }
            foreach (var s in new[] { a, b })
            {
                await IpOk("-n", s.Namespace, "link", "set", "dev", "lo", "up");
                await IpOk("-n", s.Namespace, "addr", "add", $"{s.Address}/24", "dev", s.Inner);
                await IpOk("-n", s.Namespace, "link", "set", "dev", s.Inner, "up");
                await IpOk("-n", s.Namespace, "route", "add", "default", "via", gateway.ToString());
            }

            // The probes work: from the host, each listener takes a connection and the token sent over it.
            foreach (var l in listeners)
                await AssertConnectsAsync(null, l, Endpoint(l), "host");

            // The product's namespace has no address, no route and no default gateway of its own (v4 or v6).
            Assert.DoesNotContain("inet ", (await IpOk("-n", ns, "-4", "addr", "show")).StdOut);
            Assert.Empty((await IpOk("-n", ns, "-4", "route", "show")).StdOut.Trim());
            Assert.Empty((await IpOk("-n", ns, "-6", "route", "show", "default")).StdOut.Trim());

            // Nothing of the host answers: neither from the group's namespace itself nor from a stand-in on its bridge (a
            // stand-in's 127.0.0.1 is its own loopback, whose refusal comes from its own stack).
            foreach (var from in new[] { ns, a.Namespace })
                foreach (var l in listeners)
                    await AssertRefusedAsync(from, Endpoint(l));
            foreach (var l in listeners) Assert.False(l.Pending(), $"the host listener on {Endpoint(l)} has a connection waiting");

            // The stand-ins reach each other over the bridge: b listens, a connects, b reads what a sent.
            var token = $"over-br0-{id}";
            bListens = BoundedProcess.RunAsync("ip", ["netns", "exec", b.Namespace, busybox, "nc", "-l", "-p", "7077"], null, TimeSpan.FromSeconds(60), Ct);
            await NamespaceListener.WaitListeningAsync(b.Namespace, 7077, bListens, Ct);
            var sent = await ConnectAsync(a.Namespace, new IPEndPoint(b.Address, 7077), token);
            Assert.True(sent.ExitCode == 0, $"{a.Address} -> {b.Address}:7077 over br0: got {Describe(sent)}, want a connection");
            var heard = await bListens;
            Assert.True(heard.StdOut.Contains(token, StringComparison.Ordinal), $"{b.Address} heard {Describe(heard)}, want '{token}'");
            Output.WriteLine($"{a.Namespace} -> {b.Address}:7077 over br0: connected, '{token}' heard");

            // The refusals above must come from the setup, not from the probe: link the bridge to the host the way a
            // product change could (a veth from the host onto br0, the host end holding the stand-ins' gateway address),
            // and the same probe from the same stand-in reaches the host's address. The host's loopback stays out of
            // reach even then (127.0.0.1 in a stand-in is its own); what it guards against is a proxy into the host's
            // loopback, as qemu's user-mode network without restrict=on is (10.0.2.2), not a link.
            await IpOk("link", "add", leakHost, "type", "veth", "peer", "name", leakBridge);
            await IpOk("link", "set", "dev", leakBridge, "netns", ns);
            await IpOk("-n", ns, "link", "set", "dev", leakBridge, "master", IsolatedNetwork.Bridge, "up");
            await IpOk("addr", "add", $"{gateway}/24", "dev", leakHost);
            await IpOk("link", "set", "dev", leakHost, "up");
            var leaked = external ?? new TcpListener(gateway, 0);
            if (external is null) { leaked.Start(); listeners.Add(leaked); }
            await AssertConnectsAsync(a.Namespace, leaked, Endpoint(leaked), $"{a.Namespace} with the bridge linked to the host");
            await IpOk("link", "del", "dev", leakHost);

            // A stop removes each attached link as it removes a tap; the group's namespace then goes with the product's release.
            foreach (var s in new[] { a, b }) await IsolatedNetwork.RemoveTapAsync(s.OnBridge, ns, Ct);
            if (!await IsolatedNetwork.ReleaseAsync(ns, Ct))
                Assert.Fail($"namespace {ns} was not released: links {string.Join(", ", await IsolatedNetwork.LinksAsync(ns, Ct))}, want lo and br0 only");
            await AssertNothingLeft(ns, a.OnBridge, b.OnBridge, leakHost);
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
            foreach (var link in new[] { leakHost, a.OnBridge, b.OnBridge })
                if (await LinkExists(null, link)) await Ip("link", "del", "dev", link);
            foreach (var s in new[] { a, b })
                if (NamespaceExists(s.Namespace)) await Ip("netns", "del", s.Namespace);
            if (bListens is not null) await bListens; // bounded: busybox is killed at its timeout
            if (NamespaceExists(ns)) await Ip("netns", "del", ns); // only ours: derived from this test's group
        }
        foreach (var s in new[] { a, b })
            Assert.False(NamespaceExists(s.Namespace), $"stand-in namespace {s.Namespace} is left");
    }

    /// <summary>The host's first non-loopback IPv4 address, or null.</summary>
    static IPAddress? HostAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.NetworkInterfaceType != NetworkInterfaceType.Loopback && n.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(u => u.Address))
        .FirstOrDefault(x => x.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(x) && !x.ToString().StartsWith("198.18.", StringComparison.Ordinal));

    static IPEndPoint Endpoint(TcpListener l) => (IPEndPoint)l.LocalEndpoint;

    static async Task<ProcessRun> IpOk(params string[] args)
    {
        var run = await Ip(args);
        Assert.True(run.ExitCode == 0, $"ip {string.Join(' ', args)}: got {Describe(run)}, want exit 0");
        return run;
    }

    /// <summary>A TCP connect with bash's /dev/tcp from <paramref name="netns"/> (null: the host), sending <paramref name="token"/>.</summary>
    static Task<ProcessRun> ConnectAsync(string? netns, IPEndPoint to, string token)
    {
        var script = $"exec 3<>/dev/tcp/{to.Address}/{to.Port} && echo {token} >&3";
        return netns is null
            ? BoundedProcess.RunAsync("bash", ["-c", script], null, TimeSpan.FromSeconds(20), Ct)
            : BoundedProcess.RunAsync("ip", ["netns", "exec", netns, "bash", "-c", script], null, TimeSpan.FromSeconds(20), Ct);
    }

    async Task AssertConnectsAsync(string? netns, TcpListener listener, IPEndPoint to, string from)
    {
        var token = $"probe-{Guid.NewGuid():N}";
        var run = await ConnectAsync(netns, to, token);
        Assert.True(run.ExitCode == 0, $"{from} -> {to}: got {Describe(run)}, want a connection");
        using var accepted = await listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(10));
        using var reader = new StreamReader(accepted.GetStream());
        Assert.Equal(token, await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Output.WriteLine($"{from} -> {to}: connected");
    }

    async Task AssertRefusedAsync(string netns, IPEndPoint to)
    {
        var run = await ConnectAsync(netns, to, "leak");
        Output.WriteLine($"{netns} -> {to}: {Describe(run)}");
        Assert.True(run.ExitCode is not null and not 0, $"{netns} -> {to}: got {Describe(run)}, want a failed connect");
        Assert.DoesNotContain("leak", run.StdOut, StringComparison.Ordinal);
    }

    static string Describe(ProcessRun run) =>
        $"exit {run.ExitCode?.ToString() ?? (run.TimedOut ? "(timed out)" : "(killed)")}: {BoundedProcess.Quote(run, 300)}";
}

using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

/// <summary>
/// The isolation proved by the guests' own packets (the tiny guest, v2: virtio-net, its address and probes from fw_cfg,
/// see <see cref="GuestNet"/>). Two machines of one drill group boot on their group's bridge; the first sends ping and a
/// TCP hello to its peer, to an address held by a listener in the host namespace, and to an address held by a stand-in
/// on another group's bridge. The peer answers and prints the hello on its own console; the host's listener and the
/// other group's stand-in get nothing, and the guest itself reports both unanswered. Two boots.
/// </summary>
public sealed class GuestNetworkBootTests(ITestOutputHelper output) : IsolatedGroupTest(output)
{
    // The probes take up to 30 s of pings, then a TCP hello each; on a loaded host the guest's clock runs slow.
    static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(240);

    [Fact]
    public async Task A_drill_guest_reaches_its_group_peer_with_its_own_packets_and_nothing_of_the_host_or_another_group()
    {
        var busybox = BoundedProcess.FindCommand("busybox") ?? throw new InvalidOperationException("busybox is not installed: run tests/setup.sh (busybox-static)");
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var group = $"guestnet-{id}";
        var ns = IsolatedNetwork.NamespaceName(group);
        var otherNs = IsolatedNetwork.NamespaceName($"guestnet-other-{id}");
        // 198.18.0.0/15 (benchmarking) is routed nowhere on a real host; a random /24 of it keeps parallel runs apart.
        var subnet = $"198.18.{RandomNumberGenerator.GetInt32(256)}";
        var (aAddress, bAddress, hostAddress, otherAddress) = ($"{subnet}.11", $"{subnet}.12", $"{subnet}.1", $"{subnet}.13");
        var hostLink = $"srg{id}h";
        var (standIn, standInInner, standInOnBridge) = ($"srgn-{id}-o", $"srg{id}oi", $"srg{id}ob");
        Output.WriteLine($"group {ns}: a {aAddress}, b {bAddress}; host listener {hostAddress} on {hostLink}; other group {otherNs}: stand-in {otherAddress}");

        var image = await TinyGuestImage.PathAsync();
        await using var aDisk = await NbdExport.CopyOfAsync(image, "a");
        await using var bDisk = await NbdExport.CopyOfAsync(image, "b");
        var aSpec = Spec("a", group) with { StaticAddress = aAddress, GuestProbes = [bAddress], GuestOutside = [hostAddress, otherAddress] };
        var bSpec = Spec("b", group) with { StaticAddress = bAddress };

        TcpListener? host = null;
        using var stopListening = new CancellationTokenSource();
        Task<ProcessRun>? otherListens = null;
        MachineHandle? a = null, b = null;
        try
        {
            // The host namespace holds the address the guest aims at, with a listener on the guest's port.
            // (A veth pair with both ends in the host namespace: this kernel has no dummy links.)
            await IpOk("link", "add", hostLink, "type", "veth", "peer", "name", hostLink + "p");
            await IpOk("addr", "add", $"{hostAddress}/24", "dev", hostLink);
            await IpOk("link", "set", "dev", hostLink, "up");
            host = new TcpListener(IPAddress.Parse(hostAddress), GuestNet.Port);
            host.Start();
            // The listener works: a connect from the host itself is taken (then none may be waiting at the end).
            using (var self = new TcpClient())
            {
                await self.ConnectAsync(IPAddress.Parse(hostAddress), GuestNet.Port);
                using var accepted = await host.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }

            // Another group's bridge (made by the product) with a stand-in machine on it, listening on the guest's port.
            using (await IsolatedNetwork.LockAsync(otherNs, Ct))
            {
                await IsolatedNetwork.EnsureAsync(otherNs, Ct);
                await IpOk("link", "add", standInOnBridge, "type", "veth", "peer", "name", standInInner);
                await IpOk("netns", "add", standIn);
                await IpOk("link", "set", "dev", standInInner, "netns", standIn);
                await IsolatedNetwork.AttachAsync(standInOnBridge, otherNs, Ct);
            }
            await IpOk("-n", standIn, "addr", "add", $"{otherAddress}/24", "dev", standInInner);
            await IpOk("-n", standIn, "link", "set", "dev", standInInner, "up");
            otherListens = BoundedProcess.RunAsync("ip", ["netns", "exec", standIn, busybox, "nc", "-l", "-p", GuestNet.Port.ToString()], null,
                ProbeTimeout + TinyGuest.BootTimeout, stopListening.Token);
            await NamespaceListener.WaitListeningAsync(standIn, GuestNet.Port, otherListens, Ct);

            // The group's two machines, started together; the first one's probes retry until its peer is up.
            var starts = new[]
            {
                new LocalQemuTarget().StartAsync(aSpec, [new DiskSource("d-a", aDisk.Uri, TinyGuest.ImageBytes)], Ct),
                new LocalQemuTarget().StartAsync(bSpec, [new DiskSource("d-b", bDisk.Uri, TinyGuest.ImageBytes)], Ct),
            };
            try { await Task.WhenAll(starts); }
            finally
            {
                if (starts[0].IsCompletedSuccessfully) a = await starts[0];
                if (starts[1].IsCompletedSuccessfully) b = await starts[1];
            }
            Assert.Equal(ns, a!.NetworkNamespace);
            Assert.Equal(ns, b!.NetworkNamespace);
            Assert.Contains($"name={GuestNet.FwCfgName},string=addr={aAddress}/24 probe={bAddress} outside={hostAddress} outside={otherAddress}",
                File.ReadAllText($"/proc/{a.Pid}/cmdline").Split('\0'));

            var bootA = BootAsync(a);
            var bootB = BootAsync(b);
            Assert.True((await bootA).Booted, (await bootA).Failure);
            Assert.True((await bootB).Booted, (await bootB).Failure);
            // Each guest took the address the target gave it, on the NIC the tap serves.
            Assert.Equal(aAddress + "/24", NetLine(a).Address);
            Assert.Equal(bAddress + "/24", NetLine(b).Address);
            Assert.Equal("eth0", NetLine(a).Interface);
            // Each on a MAC of its own: with qemu's one default MAC on both, a's pings to b went unanswered.
            Assert.Equal(QemuCommandLine.Mac(a.InstanceId), NetLine(a).Mac);
            Assert.Equal(QemuCommandLine.Mac(b.InstanceId), NetLine(b).Mac);

            var probed = await Target.WaitBootedAsync(a, GuestNet.ProbedMarker, ProbeTimeout, Ct);
            foreach (var line in File.ReadLines(a.ConsolePath).Where(l => l.Contains("SR-NET", StringComparison.Ordinal))) Output.WriteLine($"  a | {line.Trim()}");
            Assert.True(probed.Booted, probed.Failure);
            var probes = File.ReadLines(a.ConsolePath).Select(GuestNet.ParseProbe).OfType<GuestProbeLine>().ToDictionary(p => p.Address);
            Assert.Equal(new GuestProbeLine(bAddress, true, true), probes.GetValueOrDefault(bAddress));
            Assert.Equal(new GuestProbeLine(hostAddress, false, false), probes.GetValueOrDefault(hostAddress));
            Assert.Equal(new GuestProbeLine(otherAddress, false, false), probes.GetValueOrDefault(otherAddress));

            // The peer says on its own console that the hello came from a's address.
            var hello = GuestNet.HeardPrefix + GuestNet.Hello(aAddress);
            var heard = await Target.WaitBootedAsync(b, hello, TimeSpan.FromSeconds(30), Ct);
            foreach (var line in File.ReadLines(b.ConsolePath).Where(l => l.Contains("SR-NET", StringComparison.Ordinal))) Output.WriteLine($"  b | {line.Trim()}");
            Assert.True(heard.Booted, $"b's console does not show '{hello}': {heard.Failure}");

            // Nothing reached the host's listener or the other group's stand-in.
            Assert.False(host.Pending(), $"the host listener on {hostAddress}:{GuestNet.Port} has a connection waiting");
            await stopListening.CancelAsync();
            var other = await otherListens;
            Output.WriteLine($"other group's stand-in: exit {other.ExitCode?.ToString() ?? "(stopped)"} '{other.StdOut.Trim()}' '{other.StdErr.Trim()}'");
            Assert.True(other.Cancelled, $"the stand-in's listener ended before it was stopped: {BoundedProcess.Quote(other)}");
            Assert.DoesNotContain("sr-hello", other.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            host?.Stop();
            if (a is not null) await Target.StopAsync(a, Ct);
            if (b is not null) await Target.StopAsync(b, Ct);
            await stopListening.CancelAsync();
            if (otherListens is not null) await otherListens;
            if (await LinkExists(null, hostLink)) await Ip("link", "del", "dev", hostLink);
            if (await LinkExists(null, standInOnBridge)) await Ip("link", "del", "dev", standInOnBridge);
            if (NamespaceExists(standIn)) await Ip("netns", "del", standIn);
            // Only ours: derived from this test's groups.
            foreach (var n in new[] { ns, otherNs })
                if (NamespaceExists(n)) await Ip("netns", "del", n);
        }
        Assert.False(NamespaceExists(ns), $"namespace {ns} is left after its machines stopped");
    }

    static GuestNetLine NetLine(MachineHandle machine) =>
        Assert.Single(File.ReadLines(machine.ConsolePath).Select(GuestNet.ParseNet).OfType<GuestNetLine>());

    static async Task<ProcessRun> IpOk(params string[] args)
    {
        var run = await Ip(args);
        Assert.True(run.ExitCode == 0, $"ip {string.Join(' ', args)}: got exit {run.ExitCode}: {BoundedProcess.Quote(run, 300)}, want exit 0");
        return run;
    }
}

using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Local;

/// <summary>Whether isolated machines get their group's network namespace on this host, and why (for logs and reports).</summary>
public sealed record IsolationChoice(bool Namespaces, string Reason);

/// <summary>
/// The isolated network of one isolation group (a test failover's job) on this host: a network namespace named from the
/// group, with a bridge <see cref="Bridge"/> inside it (up). Each machine of the group has a tap on that bridge, so the
/// machines of one group reach each other and nothing else.
///
/// Invariants:
/// - qemu stays in the host namespace, where it reaches its NBD disks on 127.0.0.1: qemu creates its tap there
///   (<c>-netdev tap,ifname=TAP</c>) and the tap is moved into the group's namespace right after qemu has daemonized.
///   The moved tap keeps working: qemu's file descriptor is bound to the device, not to a namespace (checked on the
///   test host: the tap kept its carrier in the namespace and frames sent on br0 counted as delivered, not dropped).
/// - The guest's NIC reaches only br0 inside the namespace: nothing links that namespace to another one (no veth, no
///   route, no address), so the host, its loopback and the production network are out of reach.
/// - Taps are not persistent: a tap goes away with the qemu that holds it, wherever it is. A stop deletes it as well,
///   in the host namespace or the group's, in case.
/// - A group's namespace is made, used and deleted under one lock per namespace (per process): a start holds it from
///   "ensure the namespace" to "tap attached", a release from "count the links" to "namespace deleted", so a release
///   never deletes the namespace under a start of the same group. A namespace is deleted once it holds no link but lo
///   and br0: its group's last machine is gone.
/// - Names are bounded whatever the group is: the namespace is <c>sr-</c> + up to 16 characters of the group
///   (<c>[a-z0-9-]</c>) + <c>-</c> + 8 hex of the group's SHA-256; the tap is <c>srt</c> + 12 hex of the SHA-256 of the
///   machine's instance id (15 characters, Linux's limit for an interface name).
/// - Every <c>ip</c> command runs through <see cref="BoundedProcess"/>; a failure names the command and its output.
/// </summary>
public static class IsolatedNetwork
{
    /// <summary>The bridge inside every group's namespace.</summary>
    public const string Bridge = "br0";

    /// <summary>Where <c>ip netns</c> keeps named namespaces.</summary>
    public const string NetnsDirectory = "/run/netns";

    static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(15);
    static readonly ConcurrentDictionary<string, SemaphoreSlim> Locks = new(StringComparer.Ordinal);
    static readonly Lazy<Task<IsolationChoice>> Probed = new(ProbeAsync);

    /// <summary>The namespace of <paramref name="group"/>: <c>sr-&lt;group, sanitized, ≤16&gt;-&lt;8 hex&gt;</c>.</summary>
    public static string NamespaceName(string group)
    {
        var readable = new string(group.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        if (readable.Length > 16) readable = readable[..16].TrimEnd('-');
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(group)))[..8];
        return readable.Length == 0 ? $"sr-{hash}" : $"sr-{readable}-{hash}";
    }

    /// <summary>The tap of the machine instance <paramref name="instanceId"/> (15 characters).</summary>
    public static string TapName(string instanceId) =>
        "srt" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(instanceId)))[..12];

    /// <summary>
    /// <paramref name="configured"/> true or false skips the probe; null: the (cached) probe's answer, which needs root,
    /// iproute2, /dev/net/tun and a kernel with network namespaces and bridges.
    /// </summary>
    public static Task<IsolationChoice> ChooseAsync(bool? configured, CancellationToken ct) => configured switch
    {
        true => Task.FromResult(new IsolationChoice(true, "forced by options")),
        false => Task.FromResult(new IsolationChoice(false, "network namespaces disabled by options")),
        // Once for everyone, on no caller's token: one caller giving up must not poison the cache.
        null => Probed.Value.WaitAsync(ct),
    };

    /// <summary>True while the namespace <paramref name="ns"/> exists.</summary>
    public static bool Exists(string ns) => File.Exists(Path.Combine(NetnsDirectory, ns));

    /// <summary>Holds <paramref name="ns"/>'s lock until disposed (see the invariants).</summary>
    public static async Task<IDisposable> LockAsync(string ns, CancellationToken ct)
    {
        var gate = Locks.GetOrAdd(ns, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        return new Release(gate);
    }

    /// <summary>Makes <paramref name="ns"/> with its bridge up, unless it is there already. The caller holds the lock.</summary>
    public static async Task EnsureAsync(string ns, CancellationToken ct)
    {
        if (!Exists(ns)) await IpAsync(["netns", "add", ns], ct, "File exists").ConfigureAwait(false);
        await IpAsync(["-n", ns, "link", "add", Bridge, "type", "bridge"], ct, "File exists").ConfigureAwait(false);
        await IpAsync(["-n", ns, "link", "set", "dev", Bridge, "up"], ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves <paramref name="tap"/> from the host namespace into <paramref name="ns"/> (when it is still in the host's)
    /// and puts it on the bridge, up. The caller holds the lock. Idempotent.
    /// </summary>
    public static async Task AttachAsync(string tap, string ns, CancellationToken ct)
    {
        if (InHost(tap)) await IpAsync(["link", "set", "dev", tap, "netns", ns], ct).ConfigureAwait(false);
        await IpAsync(["-n", ns, "link", "set", "dev", tap, "master", Bridge, "up"], ct).ConfigureAwait(false);
    }

    /// <summary>Deletes <paramref name="tap"/> wherever it still is: the host namespace or <paramref name="ns"/>.</summary>
    public static async Task RemoveTapAsync(string tap, string? ns, CancellationToken ct)
    {
        if (InHost(tap)) await IpAsync(["link", "del", "dev", tap], ct, "Cannot find device").ConfigureAwait(false);
        if (ns is not null && Exists(ns) && (await LinksAsync(ns, ct).ConfigureAwait(false)).Contains(tap))
            await IpAsync(["-n", ns, "link", "del", "dev", tap], ct, "Cannot find device").ConfigureAwait(false);
    }

    /// <summary>Deletes <paramref name="ns"/> when no machine's tap is in it any more; true when it is gone. Takes the lock.</summary>
    public static async Task<bool> ReleaseAsync(string ns, CancellationToken ct)
    {
        using (await LockAsync(ns, ct).ConfigureAwait(false))
            return await DeleteIfUnusedAsync(ns, ct).ConfigureAwait(false);
    }

    /// <summary><see cref="ReleaseAsync"/> for a caller that holds the lock.</summary>
    public static async Task<bool> DeleteIfUnusedAsync(string ns, CancellationToken ct)
    {
        if (!Exists(ns)) return true;
        if ((await LinksAsync(ns, ct).ConfigureAwait(false)).Any(l => l != "lo" && l != Bridge)) return false;
        await IpAsync(["netns", "del", ns], ct, "No such file").ConfigureAwait(false);
        return true;
    }

    /// <summary>The names of the links in <paramref name="ns"/> (null: the host namespace).</summary>
    public static async Task<IReadOnlyList<string>> LinksAsync(string? ns, CancellationToken ct)
    {
        var run = await IpAsync(ns is null ? ["-o", "link", "show"] : ["-n", ns, "-o", "link", "show"], ct).ConfigureAwait(false);
        // "7: srt0123456789ab: <BROADCAST,...> mtu 1500 master br0 ..." (a veth shows as "name@peer").
        return run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(": ", 3))
            .Where(parts => parts.Length >= 2)
            .Select(parts => parts[1].Split('@')[0].Trim())
            .ToList();
    }

    /// <summary>The bridge <paramref name="link"/> in <paramref name="ns"/> is attached to, or null.</summary>
    public static async Task<string?> MasterAsync(string ns, string link, CancellationToken ct)
    {
        var run = await IpAsync(["-n", ns, "-o", "link", "show", "dev", link], ct).ConfigureAwait(false);
        var words = run.StdOut.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var i = Array.IndexOf(words, "master");
        return i >= 0 && i + 1 < words.Length ? words[i + 1] : null;
    }

    /// <summary>True while <paramref name="link"/> is in the host namespace (this process's).</summary>
    public static bool InHost(string link) => Directory.Exists(Path.Combine("/sys/class/net", link));

    /// <summary>
    /// Runs <c>ip ARGS</c>; throws <see cref="IOException"/> naming the command and its output unless it succeeds or
    /// fails with <paramref name="tolerated"/> in its message (the state it was to reach is there already).
    /// </summary>
    static async Task<ProcessRun> IpAsync(string[] args, CancellationToken ct, string? tolerated = null)
    {
        var ip = BoundedProcess.FindCommand("ip") ?? throw new IOException("ip (iproute2) is not installed");
        var run = await BoundedProcess.RunAsync(ip, args, null, CommandTimeout, ct).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
        if (run.ExitCode == 0) return run;
        if (tolerated is not null && run.ExitCode is not null && run.StdErr.Contains(tolerated, StringComparison.Ordinal)) return run;
        var how = run.TimedOut ? $"timed out after {CommandTimeout.TotalSeconds:F0} s" : $"exited {run.ExitCode}";
        throw new IOException($"ip {string.Join(' ', args)}: {how}: {BoundedProcess.Quote(run, 400)}");
    }

    /// <summary>
    /// One trial of everything an isolated start does, on names of this process's own (<c>sr-probe-PID</c>,
    /// <c>srprobePID</c>), removed again: a namespace, a bridge in it, a tap moved into it and attached.
    /// </summary>
    static async Task<IsolationChoice> ProbeAsync()
    {
        if (BoundedProcess.FindCommand("ip") is null) return new IsolationChoice(false, "ip (iproute2) is not installed");
        if (!File.Exists("/dev/net/tun")) return new IsolationChoice(false, "/dev/net/tun is missing");
        var ns = $"sr-probe-{Environment.ProcessId}";
        var tap = $"srprobe{Environment.ProcessId}";
        var ct = CancellationToken.None;
        try
        {
            using (await LockAsync(ns, ct).ConfigureAwait(false))
            {
                await EnsureAsync(ns, ct).ConfigureAwait(false);
                await IpAsync(["tuntap", "add", "dev", tap, "mode", "tap"], ct).ConfigureAwait(false);
                await AttachAsync(tap, ns, ct).ConfigureAwait(false);
            }
            return new IsolationChoice(true, "netns probe: namespace, bridge and tap work");
        }
        catch (IOException e)
        {
            return new IsolationChoice(false, $"netns probe: {e.Message}");
        }
        finally
        {
            try
            {
                await RemoveTapAsync(tap, ns, ct).ConfigureAwait(false);
                if (Exists(ns)) await IpAsync(["netns", "del", ns], ct, "No such file").ConfigureAwait(false);
            }
            catch (IOException) { } // the probe's answer stands; a leftover probe name is harmless and ours
        }
    }

    sealed class Release(SemaphoreSlim gate) : IDisposable
    {
        int _released;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release();
        }
    }
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// One parsed <c>SR-NET</c> console line: the guest's NIC (<see cref="Interface"/> null: it has none), its MAC, the
/// address it configured (<c>A.B.C.D/P</c>; null: none was given, <c>unaddressed</c>) or why it failed.
/// </summary>
public sealed record GuestNetLine(string? Interface, string? Mac, string? Address, string? Failure);

/// <summary>One parsed <c>SR-NET-PROBE</c> console line: a probe address, whether it answered ping and took a TCP hello.</summary>
public sealed record GuestProbeLine(string Address, bool PingAnswered, bool TcpSent);

/// <summary>
/// The tiny test guest's network contract (built by <c>tests/images/build-tiny-guest.sh</c>; its init implements the
/// other half). The target hands the guest its address and the addresses to probe through qemu's fw_cfg, the file
/// <see cref="FwCfgName"/>, one line of words: <c>addr=A.B.C.D/P</c>, any number of <c>probe=A.B.C.D</c> (peers: pinged
/// again for up to 30 s until they answer, since a peer may boot later) and of <c>outside=A.B.C.D</c> (addresses that must
/// not answer: pinged twice, once, so a drill does not wait 30 s for the silence it expects). The guest prints
/// <c>SR-NET</c> before <see cref="GuestPayload.BootedMarker"/>; after it, its own packets to every probe and outside
/// address (ping, then a TCP hello on <see cref="Port"/>), one <c>SR-NET-PROBE</c> line each, then <see cref="ProbedMarker"/>.
/// It listens on <see cref="Port"/> and prints <c>SR-NET-HEARD &lt;first line&gt;</c> for every connection, so a peer
/// proves on its own console that another guest's packets reached it.
/// Why fw_cfg: it is the one channel the target controls per machine that needs no network (an isolated group has no
/// DHCP) and no write to the recovered disk (its bytes are the point's, and the guest checks them).
/// </summary>
public static class GuestNet
{
    /// <summary>The fw_cfg file (qemu: <c>-fw_cfg name=…</c>; the guest: /sys/firmware/qemu_fw_cfg/by_name/…/raw).</summary>
    public const string FwCfgName = "opt/siterecovery/net";

    /// <summary>
    /// The prefix of every local address: qemu user-mode hands out a /24, and the machines of an isolation group share
    /// their bridge as one /24 (a <see cref="MachineSpec.StaticAddress"/> carries no prefix of its own).
    /// </summary>
    public const int PrefixLength = 24;

    /// <summary>The TCP port the guest listens on and sends its hello to.</summary>
    public const int Port = 7077;

    /// <summary>At most this many probe and outside addresses together per machine: each unanswered one costs the guest seconds.</summary>
    public const int MaxProbes = 8;

    /// <summary>The line the guest prints once every probe is reported.</summary>
    public const string ProbedMarker = "SR-NET-PROBED";

    /// <summary>What a peer's guest prints when a hello reached it.</summary>
    public const string HeardPrefix = "SR-NET-HEARD ";

    /// <summary>The hello a guest sends from <paramref name="address"/> (its <c>SR-NET-HEARD</c> line on the peer).</summary>
    public static string Hello(string address) => $"sr-hello from {address}";

    const string NetPrefix = "SR-NET ";
    const string ProbePrefix = "SR-NET-PROBE ";

    /// <summary>
    /// The fw_cfg text for <paramref name="spec"/>, or null when it has no network card or no static address to give
    /// (a probe needs an address to send from; <see cref="LocalTargetRules"/> rejects probes without one).
    /// </summary>
    public static string? Config(MachineSpec spec)
    {
        if (spec.Network == NetworkMode.None || spec.StaticAddress is not { } address) return null;
        var words = new List<string> { $"addr={address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}" };
        words.AddRange((spec.GuestProbes ?? []).Select(p => $"probe={p}"));
        words.AddRange((spec.GuestOutside ?? []).Select(p => $"outside={p}"));
        return string.Join(' ', words);
    }

    /// <summary>Why <paramref name="probe"/> cannot be a probe address (the guest takes IPv4 only), or null.</summary>
    public static string? ProbeProblem(string probe) =>
        IPAddress.TryParse(probe, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork && ip.ToString() == probe
            ? null
            : "must be an IPv4 address in dotted form";

    /// <summary>The <c>SR-NET</c> line on <paramref name="consoleLine"/>, or null when it carries none (or a malformed one).</summary>
    public static GuestNetLine? ParseNet(string consoleLine)
    {
        if (Words(consoleLine, NetPrefix) is not { } w) return null;
        if (w is ["NONE"]) return new GuestNetLine(null, null, null, null);
        if (w.Length < 3) return null;
        return w[2] switch
        {
            "unaddressed" when w.Length == 3 => new GuestNetLine(w[0], w[1], null, null),
            "FAILED" => new GuestNetLine(w[0], w[1], null, string.Join(' ', w[3..])),
            var a when w.Length == 3 && a.Contains('/', StringComparison.Ordinal) => new GuestNetLine(w[0], w[1], a, null),
            _ => null,
        };
    }

    /// <summary>The <c>SR-NET-PROBE</c> line on <paramref name="consoleLine"/>, or null.</summary>
    public static GuestProbeLine? ParseProbe(string consoleLine)
    {
        if (Words(consoleLine, ProbePrefix) is not [var address, var ping, var tcp]) return null;
        bool? Is(string word, string key, string yes, string no) =>
            word == $"{key}={yes}" ? true : word == $"{key}={no}" ? false : null;
        return (Is(ping, "ping", "answered", "unanswered"), Is(tcp, "tcp", "sent", "failed")) is (bool p, bool t)
            ? new GuestProbeLine(address, p, t)
            : null;
    }

    static string[]? Words(string consoleLine, string prefix)
    {
        var at = consoleLine.IndexOf(prefix, StringComparison.Ordinal);
        return at < 0 ? null : consoleLine[(at + prefix.Length)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}

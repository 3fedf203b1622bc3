using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent;

/// <summary>
/// Where the agent serves its disks over NBD (<c>--nbd</c>): <c>HOST:PORT</c>, or <c>unix:PATH</c> for a Unix socket
/// only the agent's user may open (0600). The export has no authentication and serves raw disks, so a TCP address other
/// than loopback is refused unless the operator says so (<c>--nbd-listen-any</c>).
/// </summary>
public static class NbdListenAddress
{
    public const string UnixPrefix = "unix:";

    public static EndPoint Parse(string flag, string text, bool listenAny)
    {
        if (text.StartsWith(UnixPrefix, StringComparison.Ordinal))
        {
            var path = text[UnixPrefix.Length..];
            if (path.Length == 0) throw new ArgumentException($"{flag} '{text}': unix: needs a socket path");
            var full = Path.GetFullPath(path);
            if (!Directory.Exists(Path.GetDirectoryName(full))) throw new ArgumentException($"{flag} '{text}': the folder {Path.GetDirectoryName(full)} does not exist");
            return new UnixDomainSocketEndPoint(full);
        }
        var endpoint = HostPort.Parse(flag, text);
        if (!listenAny && !IPAddress.IsLoopback(endpoint.Address))
            throw new ArgumentException($"{flag} {text}: the NBD export serves the raw disks to whoever connects, with no authentication; " +
                "listen on loopback or a unix: socket, or give --nbd-listen-any to serve it on this address anyway");
        return endpoint;
    }
}

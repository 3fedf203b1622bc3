using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent;

/// <summary>
/// Where the agent serves its disks over NBD (<c>--nbd</c>): <c>HOST:PORT</c>, or <c>unix:PATH</c> for a Unix socket
/// only the agent's user may open (0600). Without TLS the export has no authentication and serves raw disks, so a TCP
/// address other than loopback is refused unless the operator says so (<c>--nbd-listen-any</c>); with mutual TLS
/// (<c>--nbd-tls-*</c>) a client certificate is the authentication, and any address is allowed.
/// </summary>
public static class NbdListenAddress
{
    public const string UnixPrefix = "unix:";

    /// <param name="authenticated">Clients must present a certificate (mutual TLS): any address may serve them.</param>
    public static EndPoint Parse(string flag, string text, bool listenAny, bool authenticated = false)
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
        if (!listenAny && !authenticated && !IPAddress.IsLoopback(endpoint.Address))
            throw new ArgumentException($"{flag} {text}: the NBD export serves the raw disks to whoever connects, with no authentication; " +
                "listen on loopback or a unix: socket, require client certificates (--nbd-tls-certificate, --nbd-tls-key, --nbd-tls-client-ca), " +
                "or give --nbd-listen-any to serve it on this address anyway");
        return endpoint;
    }
}

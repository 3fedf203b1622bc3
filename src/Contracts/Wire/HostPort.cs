using System.Net;

namespace SiteRecovery.Contracts.Wire;

/// <summary>Parses the HOST:PORT values of the command lines; errors name the option and the value.</summary>
public static class HostPort
{
    public static IPEndPoint Parse(string option, string text)
    {
        // IPEndPoint.TryParse accepts an address without a port (port 0): only an explicit ":0" means "any port".
        if (IPEndPoint.TryParse(text, out var ep) && (ep.Port != 0 || text.EndsWith(":0", StringComparison.Ordinal))) return ep;
        if (text.Split(':') is [var host, var port] && int.TryParse(port, out var p) && p is >= 0 and <= 65535)
        {
            var addr = Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new ArgumentException($"{option} '{text}': host '{host}' has no address");
            return new IPEndPoint(addr, p);
        }
        throw new ArgumentException($"{option} '{text}' is not HOST:PORT");
    }
}

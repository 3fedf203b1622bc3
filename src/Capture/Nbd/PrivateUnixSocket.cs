using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Binds a Unix socket that only this user may connect to (0600). The mode is set by the process umask at bind(2)
/// itself, so there is no moment in which the socket exists with the default mode and another user could connect;
/// it is set again explicitly afterwards. Nothing at the path is ever removed here: .NET cannot tell a socket left by an
/// agent killed mid-run from a file someone keeps there, so either is refused by name (a clean stop removes its socket).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
static class PrivateUnixSocket
{
    [DllImport("libc", EntryPoint = "umask")]
    private static extern uint Umask(uint mask);

    static readonly object UmaskLock = new();

    public static void Bind(Socket listener, UnixDomainSocketEndPoint endpoint)
    {
        var path = endpoint.ToString();
        if (File.Exists(path) || Directory.Exists(path))
            throw new IOException($"cannot serve NBD on unix:{path}: the path exists (a socket left by an agent that did not stop cleanly, or another file); remove it or choose another path");
        lock (UmaskLock)
        {
            var previous = Umask(0b001_111_111);
            try { listener.Bind(endpoint); }
            finally { Umask(previous); }
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Removes the socket this server bound, once it no longer listens.</summary>
    public static void Remove(UnixDomainSocketEndPoint endpoint)
    {
        try { File.Delete(endpoint.ToString()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}

using System.Net.Sockets;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// How the end of a data-path connection is told, the same at both hops (an agent's at the process server, a process
/// server's at the master target): a refused delta, a lost connection (not worth a line on shutdown) or, with its type,
/// anything unexpected. Nothing ends a connection silently.
/// </summary>
static class SessionEnd
{
    /// <param name="log">Where the line goes.</param>
    /// <param name="connection">Who speaks and of what, e.g. "master target: connection from 10.0.0.5:40112".</param>
    /// <param name="e">What ended it.</param>
    /// <param name="stopping">Cancelled when the host is stopping, which ends connections on purpose.</param>
    public static void Log(Action<string> log, string connection, Exception e, CancellationToken stopping)
    {
        switch (e)
        {
            case DeltaRefusedException:
                log($"{connection} closed: {e.Message}");
                break;
            case IOException or SocketException or TimeoutException or InvalidDataException or DeltaFormatException or ObjectDisposedException or OperationCanceledException:
                if (!stopping.IsCancellationRequested) log($"{connection} ended: {e.Message}");
                break;
            default:
                // An unexpected failure is logged with its type before the socket closes.
                log($"{connection} failed ({e.GetType().Name}): {e.Message}");
                break;
        }
    }
}

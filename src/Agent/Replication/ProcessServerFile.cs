using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// <c>--process-server-file FILE</c>: an agent started before anyone knows where its disks replicate to. A commit moves a
/// failed-over machine onto such an agent at the failover site (the original site may be gone, no reprotect target is
/// known yet); it serves NBD and captures every write, numbering none, until FILE holds the process server's
/// <c>HOST:PORT</c>, written by the node at reprotect (to a temporary name, then renamed, so it is never read half
/// written). Then it connects and compares every disk with the replica (<c>--compare-with-replica</c>, implied).
/// A file, not a restart with <c>--process-server</c>: a restart would break the running machine's NBD connection; and
/// not a signal, because the node that gives it may be a later process than the one that started the agent.
/// </summary>
public static class ProcessServerFile
{
    /// <summary>How often the file is looked for.</summary>
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The process server FILE names, once it exists and names one; a file that does not parse is logged (once per
    /// content) and waited past, since the node rewrites it. Cancelled with <paramref name="ct"/> (the agent stopping).
    /// </summary>
    public static async Task<EndPoint> WaitAsync(string path, Action<string> log, CancellationToken ct)
    {
        log($"capturing: no process server until {path} names one; every write is kept in the activity log and nothing replicates");
        string? refused = null;
        while (true)
        {
            if (Read(path) is { } text && text != refused)
            {
                try
                {
                    var endpoint = HostPort.Parse(path, text);
                    log($"process server {endpoint} given by {path}");
                    return endpoint;
                }
                catch (Exception e) when (e is ArgumentException or SocketException)
                {
                    refused = text;
                    log($"{path}: {e.Message}; waiting for a HOST:PORT");
                }
            }
            await Task.Delay(Poll, ct).ConfigureAwait(false);
        }
    }

    static string? Read(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }
}

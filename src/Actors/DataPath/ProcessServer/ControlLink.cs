using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A process server's control-only connection to its master target (a hello offering no disks), opened from
/// the on-premises side like every other. Group-hold requests and their answers travel here instead of on a
/// disk's delta connection, where an answer would queue behind megabytes of deltas in flight and the write
/// stall of a group bookmark would grow with the replication backlog.
///
/// Served by a thread of its own with blocking reads (<see cref="ControlChannel"/>): a request is passed to the
/// agent on this thread, and the agent's answer, which completes on the agent's control thread, is written back
/// from there at once. No hop waits for a thread-pool turn behind the spool's fsyncs.
/// </summary>
sealed class ControlLink(ProcessServer server, ProcessServerOptions options, Action<string> log)
{
    public Task RunAsync(CancellationToken stop) => ControlChannel.StartThread("control link", () => Loop(stop));

    void Loop(CancellationToken stop) => options.ControlReconnect.Run(connected => RunOnce(connected, stop), ReconnectPolicy.IsConnectionLoss,
        (e, _) => log($"process server: control connection to {options.MasterTarget}: {e.Message}; retrying"), stop);

    void RunOnce(Action connected, CancellationToken stop)
    {
        using var channel = ControlChannel.Open(options.MasterTarget, options.ServerId, "master target", stop, tls: options.MasterTargetTls);
        connected();
        while (channel.Receive() is { } message)
        {
            if (message is not IAgentRequest request) continue;
            // Runs here up to the send to the agent; the answer is written by whichever thread completes the route.
            server.RouteToAgentAsync(request, stop).ContinueWith(route =>
            {
                if (!route.IsCompletedSuccessfully) return;
                try { channel.Send(route.Result); }
                catch (Exception e) when (e is IOException or ObjectDisposedException) { }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        throw new IOException("master target closed the control connection");
    }
}

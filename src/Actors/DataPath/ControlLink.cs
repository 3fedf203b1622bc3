using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A process server's control-only connection to its master target (a hello offering no disks), opened from
/// the on-premises side like every other. Group-hold requests and their answers travel here instead of on a
/// disk's delta connection, where an answer would queue behind megabytes of deltas in flight and the write
/// stall of a group bookmark would grow with the replication backlog.
///
/// A request is passed to the agent from the task that read it, and the agent's answer, which completes on the agent's
/// control connection's receiving task, is written back from there at once. Keepalives go out when the link is quiet,
/// as the master target's resume asks, so an idle link is not closed by its idle timeout.
/// </summary>
sealed class ControlLink(ProcessServer server, ProcessServerOptions options, Action<string> log)
{
    public Task RunAsync(CancellationToken stop) => options.ControlReconnect.RunAsync(RunOnceAsync, ReconnectPolicy.IsConnectionLoss,
        (e, _) => log($"process server: control connection to {options.MasterTarget}: {e.Message}; retrying"), stop);

    async Task RunOnceAsync(Action connected, CancellationToken stop)
    {
        var (channel, answer) = await ControlChannel.OpenAsync(options.MasterTarget, options.ServerId, "master target", stop).ConfigureAwait(false);
        using var closeAtEnd = channel;
        connected();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var keepalive = SessionHandshake.KeepAliveAsync(answer, channel.Sender, session.Token);
        try
        {
            while (await channel.ReceiveAsync(stop).ConfigureAwait(false) is { } message)
            {
                if (message is IAgentRequest request) _ = AnswerAsync(channel, request, stop);
            }
        }
        finally
        {
            await session.CancelAsync().ConfigureAwait(false);
            await keepalive.ConfigureAwait(false);
        }
        throw new IOException("master target closed the control connection");
    }

    /// <summary>Runs here up to the send to the agent; the answer is written by whichever task completes the route.</summary>
    async Task AnswerAsync(ControlChannel channel, IAgentRequest request, CancellationToken stop)
    {
        try
        {
            var reply = await server.RouteToAgentAsync(request, stop).ConfigureAwait(false);
            await channel.SendAsync(reply, stop).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { /* the asker times out and asks again */ }
    }
}

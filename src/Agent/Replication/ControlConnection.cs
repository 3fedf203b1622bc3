using System.Net;
using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The agent's second outgoing connection to its process server, for requests from the master target only (group
/// holds, operator resyncs, planned-failover stops; a hello offering no disks). On the delta connection a held answer would queue behind the deltas already sent, each waiting for
/// the process server's fsync, and the write stall would grow with the load. Holds taken over this connection
/// are released when it is lost, as over the delta connection.
///
/// Holds are taken and answered from the task that reads this connection: a crash-consistent hold at once, and so is
/// the commit. An app-consistent hold (its freeze may take seconds), one that must wait for another hold, and a failover
/// stop (it waits for the drain) are answered from a task of their own, so the reads go on for commits and aborts.
/// Keepalives go out when the connection is quiet, as the process server's resume asks, so an idle connection is not
/// closed by its idle timeout.
/// </summary>
sealed class ControlConnection(string agentId, EndPoint processServer, GroupHolds holds, Func<ResyncRequest, ResyncStarted> resync,
    FailoverStops stops, Action<string> log)
{
    public async Task RunAsync(Task started, CancellationToken stop)
    {
        try { await started.WaitAsync(stop).ConfigureAwait(false); }
        catch (OperationCanceledException) { return; }
        await ReplicationClient.ControlReconnect.RunAsync(RunOnceAsync, ReconnectPolicy.IsConnectionLoss,
            (e, _) => log($"control connection to {processServer}: {e.Message}; group holds use the delta connection meanwhile"),
            stop, afterEach: () => holds.ReleaseAll("control connection to the process server lost")).ConfigureAwait(false);
    }

    async Task RunOnceAsync(Action connected, CancellationToken stop)
    {
        var (channel, answer) = await ControlChannel.OpenAsync(processServer, agentId, "process server", stop).ConfigureAwait(false);
        using var closeAtEnd = channel;
        connected();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var keepalive = SessionHandshake.KeepAliveAsync(answer, channel.Sender, session.Token);
        try
        {
            while (await channel.ReceiveAsync(stop).ConfigureAwait(false) is { } message)
            {
                switch (message)
                {
                    case HoldRequest hold when holds.TryHoldAtOnce(hold) is { } held:
                        await ReplyAsync(channel, hold, held, stop).ConfigureAwait(false);
                        break;
                    case HoldRequest hold:
                        _ = Task.Run(async () => await ReplyAsync(channel, hold, await holds.HoldAsync(hold).ConfigureAwait(false), stop).ConfigureAwait(false), CancellationToken.None);
                        break;
                    case CommitHold commit: await channel.SendAsync(holds.Commit(commit), stop).ConfigureAwait(false); break;
                    case AbortHold abort: await channel.SendAsync(holds.Abort(abort), stop).ConfigureAwait(false); break;
                    case ResyncRequest request: await channel.SendAsync(resync(request), stop).ConfigureAwait(false); break;
                    // A stop waits for the drain (seconds): a task of its own keeps the reads going for holds and commits.
                    case StopForFailover request: Answer(channel, () => stops.StopAsync(request, stop), stop); break;
                    case ResumeAfterFailover request: Answer(channel, () => stops.ResumeAsync(request, stop), stop); break;
                    case Keepalive: break;
                    case var other: log($"control connection: ignoring {other.GetType().Name}"); break;
                }
            }
        }
        finally
        {
            await session.CancelAsync().ConfigureAwait(false);
            await keepalive.ConfigureAwait(false);
        }
        throw new IOException("process server closed the control connection");
    }

    static void Answer<T>(ControlChannel channel, Func<Task<T>> answer, CancellationToken stop) where T : ControlMessage => _ = Task.Run(async () =>
    {
        try { await channel.SendAsync(await answer().ConfigureAwait(false), stop).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { /* the asker times out and asks again */ }
    }, CancellationToken.None);

    async Task ReplyAsync(ControlChannel channel, HoldRequest hold, Held held, CancellationToken stop)
    {
        try { await channel.SendAsync(held, stop).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // Nobody will commit a hold whose answer was lost: release it now rather than at the lease's end.
            holds.Abort(new AbortHold("", hold.HoldId, "held reply not delivered", hold.DiskIds));
        }
    }
}

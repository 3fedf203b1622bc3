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
/// It is served by a thread of its own with blocking reads and writes (<see cref="ControlChannel"/>): a
/// crash-consistent hold is taken and answered on that thread, and so is the commit, so neither waits for a
/// thread-pool turn behind NBD writes and delta sends. An app-consistent hold (its freeze may take seconds) or
/// one that must wait for another hold gets a thread of its own, so this one stays free for commits and aborts.
/// </summary>
sealed class ControlConnection(string agentId, ProcessServerRoute route, GroupHolds holds, Func<ResyncRequest, ResyncStarted> resync,
    FailoverStops stops, Action<string> log, WriterIdentity writer, Func<HopClientTls?> tls)
{
    public async Task RunAsync(Task started, CancellationToken stop)
    {
        try { await started.WaitAsync(stop).ConfigureAwait(false); }
        catch (OperationCanceledException) { return; }
        await ControlChannel.StartThread($"control {agentId}", () => Loop(stop)).ConfigureAwait(false);
    }

    void Loop(CancellationToken stop) => ReplicationClient.ControlReconnect.Run(connected => RunOnce(connected, stop), ReconnectPolicy.IsConnectionLoss,
        (e, _) => log($"control connection to {route.Current.Address}: {e.Message}; group holds use the delta connection meanwhile"),
        stop, afterEach: () => holds.ReleaseAll("control connection to the process server lost"));

    void RunOnce(Action connected, CancellationToken stop)
    {
        // A placement that moves the disks closes this channel (the old process server may stay up); the loop then opens
        // one to the new process server.
        var (target, moved) = (route.Current, route.Moved);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop, moved);
        try { RunOnce(target, connected, session.Token); }
        catch (OperationCanceledException) when (moved.IsCancellationRequested && !stop.IsCancellationRequested)
        {
            throw new IOException($"the placement moved the disks from process server {target} to {route.Current}");
        }
        catch (ObjectDisposedException) when (moved.IsCancellationRequested && !stop.IsCancellationRequested)
        {
            throw new IOException($"the placement moved the disks from process server {target} to {route.Current}");
        }
    }

    void RunOnce(ProcessServerTarget target, Action connected, CancellationToken stop)
    {
        using var channel = ControlChannel.Open(target.Address, agentId, "process server", stop, writer, tls());
        connected();
        while (channel.Receive() is { } message)
        {
            switch (message)
            {
                case HoldRequest hold when holds.TryHoldAtOnce(hold) is { } held:
                    Reply(channel, hold, held);
                    break;
                case HoldRequest hold:
                    ControlChannel.StartThread($"hold {agentId}", () => Reply(channel, hold, holds.HoldAsync(hold).GetAwaiter().GetResult()));
                    break;
                case CommitHold commit: channel.Send(holds.Commit(commit)); break;
                case AbortHold abort: channel.Send(holds.Abort(abort)); break;
                case ResyncRequest request: channel.Send(resync(request)); break;
                // A stop waits for the drain (seconds): a thread of its own keeps this one free for holds and commits.
                case StopForFailover request: Answer(channel, $"failover stop {agentId}", () => stops.StopAsync(request, stop).GetAwaiter().GetResult()); break;
                case ResumeAfterFailover request: Answer(channel, $"failover resume {agentId}", () => stops.ResumeAsync(request, stop).GetAwaiter().GetResult()); break;
                case var other: log($"control connection: ignoring {other.GetType().Name}"); break;
            }
        }
        throw new IOException("process server closed the control connection");
    }

    static void Answer(ControlChannel channel, string thread, Func<ControlMessage> answer) => ControlChannel.StartThread(thread, () =>
    {
        try { channel.Send(answer()); }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { /* the asker times out and asks again */ }
    });

    void Reply(ControlChannel channel, HoldRequest hold, Held held)
    {
        try { channel.Send(held); }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Nobody will commit a hold whose answer was lost: release it now rather than at the lease's end.
            holds.Abort(new AbortHold("", hold.HoldId, "held reply not delivered", hold.DiskIds));
        }
    }
}

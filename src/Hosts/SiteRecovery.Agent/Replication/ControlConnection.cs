using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The agent's second outgoing connection to its process server, for group holds only (a hello offering no
/// disks). On the delta connection a held answer would queue behind the deltas already sent, each waiting for
/// the process server's fsync, and the write stall would grow with the load. Holds taken over this connection
/// are released when it is lost, as over the delta connection.
/// </summary>
sealed class ControlConnection(string agentId, EndPoint processServer, GroupHolds holds, Action<string> log)
{
    public async Task RunAsync(Task started, CancellationToken stop)
    {
        try { await started.WaitAsync(stop).ConfigureAwait(false); }
        catch (OperationCanceledException) { return; }
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stop).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
            {
                log($"control connection to {processServer}: {e.Message}; group holds use the delta connection meanwhile");
            }
            finally { holds.ReleaseAll("control connection to the process server lost"); }
            try { await Task.Delay(delay, stop).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 10_000));
        }
    }

    async Task RunOnceAsync(CancellationToken stop)
    {
        using var socket = new Socket(processServer.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(processServer, stop).ConfigureAwait(false);
        await using var net = new NetworkStream(socket, ownsSocket: false);
        var sendLock = new SemaphoreSlim(1, 1);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var ct = cts.Token;
        await FrameIo.WriteAsync(net, FrameType.Control, new Hello(agentId, []).ToBytes(), ct).ConfigureAwait(false);
        var first = await FrameIo.ReadAsync(net, ct).ConfigureAwait(false) ?? throw new IOException("process server closed the control connection");
        switch (ControlMessage.Parse(first.Body))
        {
            case Refused r: throw new InvalidDataException($"process server refused the control connection: {r.Reason}");
            case not Resume: throw new InvalidDataException("process server answered the control hello with something other than resume");
        }

        async Task Send(ControlMessage m)
        {
            await sendLock.WaitAsync(ct).ConfigureAwait(false);
            try { await FrameIo.WriteAsync(net, FrameType.Control, m.ToBytes(), ct).ConfigureAwait(false); }
            finally { sendLock.Release(); }
        }

        try
        {
            while (await FrameIo.ReadAsync(net, ct).ConfigureAwait(false) is { } frame)
            {
                if (frame.Type != FrameType.Control) throw new InvalidDataException("process server sent a delta frame on the control connection");
                switch (ControlMessage.Parse(frame.Body))
                {
                    case HoldRequest hold:
                        _ = Task.Run(async () =>
                        {
                            var held = await holds.HoldAsync(hold).ConfigureAwait(false);
                            try { await Send(held).ConfigureAwait(false); }
                            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
                            {
                                holds.Abort(new AbortHold("", hold.HoldId, "held reply not delivered", hold.DiskIds));
                            }
                        }, CancellationToken.None);
                        break;
                    case CommitHold commit: await Send(holds.Commit(commit)).ConfigureAwait(false); break;
                    case AbortHold abort: await Send(holds.Abort(abort)).ConfigureAwait(false); break;
                    case var other: log($"control connection: ignoring {other.GetType().Name}"); break;
                }
            }
            throw new IOException("process server closed the control connection");
        }
        finally { await cts.CancelAsync().ConfigureAwait(false); }
    }
}

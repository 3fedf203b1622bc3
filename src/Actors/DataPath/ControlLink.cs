using System.Net.Sockets;
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

    void Loop(CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                RunOnce(stop);
                delay = TimeSpan.FromMilliseconds(200);
            }
            catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
            {
                if (!stop.IsCancellationRequested) log($"process server: control connection to {options.MasterTarget}: {e.Message}; retrying");
            }
            if (stop.WaitHandle.WaitOne(delay)) return;
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 3000));
        }
    }

    void RunOnce(CancellationToken stop)
    {
        using var socket = new Socket(options.MasterTarget.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var channel = new ControlChannel(socket);
        // Stopping closes the socket: the blocked connect or read ends at once.
        using var closeOnStop = stop.Register(channel.Dispose);
        socket.Connect(options.MasterTarget);
        channel.Send(new Hello(options.ServerId, []));
        switch (channel.Receive())
        {
            case null: throw new IOException("master target closed the control connection");
            case not Resume: throw new InvalidDataException("master target answered the control hello with something other than resume");
        }
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

using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A process server's control-only connection to its master target (a hello offering no disks), opened from
/// the on-premises side like every other. Group-hold requests and their answers travel here instead of on a
/// disk's delta connection, where an answer would queue behind megabytes of deltas in flight and the write
/// stall of a group bookmark would grow with the replication backlog.
/// </summary>
sealed class ControlLink(ProcessServer server, ProcessServerOptions options, Action<string> log)
{
    readonly SemaphoreSlim _sendLock = new(1, 1);

    public async Task RunAsync(CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var socket = new Socket(options.MasterTarget.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(options.MasterTarget, stop).ConfigureAwait(false);
                await using var net = new NetworkStream(socket, ownsSocket: false);
                await FrameIo.WriteAsync(net, FrameType.Control, new Hello(options.ServerId, []).ToBytes(), stop).ConfigureAwait(false);
                var first = await FrameIo.ReadAsync(net, stop).ConfigureAwait(false) ?? throw new IOException("master target closed the control connection");
                if (ControlMessage.Parse(first.Body) is not Resume) throw new InvalidDataException("master target answered the control hello with something other than resume");
                delay = TimeSpan.FromMilliseconds(200);
                while (await FrameIo.ReadAsync(net, stop).ConfigureAwait(false) is { } frame)
                {
                    if (frame.Type != FrameType.Control) throw new InvalidDataException("master target sent a delta frame on the control connection");
                    if (ControlMessage.Parse(frame.Body) is not IAgentRequest request) continue;
                    _ = Task.Run(async () =>
                    {
                        var reply = await server.RouteToAgentAsync(request, stop).ConfigureAwait(false);
                        await _sendLock.WaitAsync(stop).ConfigureAwait(false);
                        try { await FrameIo.WriteAsync(net, FrameType.Control, reply.ToBytes(), stop).ConfigureAwait(false); }
                        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
                        finally { _sendLock.Release(); }
                    }, CancellationToken.None);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
            {
                log($"process server: control connection to {options.MasterTarget}: {e.Message}; retrying");
            }
            try { await Task.Delay(delay, stop).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 3000));
        }
    }
}

using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// A control-only connection (group holds and their answers) driven by blocking calls: <see cref="Receive"/> on
/// a thread of its own (<see cref="StartThread"/>), <see cref="Send"/> written at once by whoever answers. The
/// async socket path hands every completion to the thread pool, and on a node or agent whose pool threads sit in
/// the data path's synchronous fsyncs and writes each hop of a hold waited for a turn there: hundreds of ms of
/// write stall at p99 on a loaded 2-core machine. Frames are those of <see cref="FrameIo"/>; only control frames.
/// They cross the connection's stream (TLS or plain, <see cref="HopConnection"/>) with blocking reads and writes.
/// </summary>
public sealed class ControlChannel : IDisposable
{
    readonly HopConnection _connection;
    readonly Stream _stream;
    readonly object _sendLock = new();
    readonly byte[] _header = new byte[FrameHeader.Size];
    CancellationTokenRegistration _closeOnStop;
    int _closed;

    public ControlChannel(HopConnection connection)
    {
        _connection = connection;
        _stream = connection.Stream;
    }

    /// <summary>Who the other end is by its certificate; null on a plain connection.</summary>
    public HopPeer? Peer => _connection.Peer;

    /// <summary>
    /// The connecting end: connects to <paramref name="peer"/> at <paramref name="endPoint"/>, says hello as
    /// <paramref name="sourceId"/> offering no disks, and returns once the peer answered resume. Stopping closes the
    /// connection, so a blocked connect or read ends at once. Throws <see cref="IOException"/>,
    /// <see cref="SocketException"/> or <see cref="InvalidDataException"/> naming what went wrong.
    /// </summary>
    /// <remarks><paramref name="writer"/>: signs the hello at a new epoch (the agent's; the process server's link says none).
    /// <paramref name="tls"/>: mutual TLS when the component holds a certificate (<see cref="HopConnector"/>).</remarks>
    public static ControlChannel Open(EndPoint endPoint, string sourceId, string peer, CancellationToken stop, WriterIdentity? writer = null, HopClientTls? tls = null)
    {
        var channel = new ControlChannel(HopConnector.Connect(endPoint, tls, peer, stop));
        channel._closeOnStop = stop.Register(channel.Dispose);
        try
        {
            var hello = new Hello(sourceId, [], ProtocolVersion.Current);
            if (writer is not null) hello = writer.Sign(hello);
            channel.Send(hello);
            var answer = channel.Receive();
            SessionHandshake.Answered(answer, answer is null, peer, hello);
            return channel;
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>Writes one control frame; <see cref="IOException"/> when the connection is gone.</summary>
    public void Send(ControlMessage message)
    {
        var body = message.ToBytes();
        var frame = new byte[FrameHeader.Size + body.Length];
        FrameHeader.Write(frame, body.Length, FrameType.Control);
        body.CopyTo(frame, FrameHeader.Size);
        lock (_sendLock)
        {
            try
            {
                _stream.Write(frame);
                _stream.Flush();
            }
            catch (Exception e) when (e is IOException or SocketException or NotSupportedException) { throw new IOException($"control connection: send failed: {e.Message}", e); }
        }
    }

    /// <summary>Blocks for the next message; null when the peer closed the connection between frames. One reader at a time.</summary>
    public ControlMessage? Receive()
    {
        if (!Fill(_header, endAllowed: true)) return null;
        // A hold's frames are a few hundred bytes: the small bound keeps a confused peer from making us allocate much.
        var body = new byte[FrameHeader.Parse(_header, FrameHeader.MaxControlFrame, controlOnly: true).Length];
        Fill(body, endAllowed: false);
        return ControlMessage.Parse(body);
    }

    bool Fill(byte[] buffer, bool endAllowed)
    {
        for (var got = 0; got < buffer.Length;)
        {
            int n;
            try { n = _stream.Read(buffer, got, buffer.Length - got); }
            catch (Exception e) when (e is IOException or SocketException or NotSupportedException) { throw new IOException($"control connection: receive failed: {e.Message}", e); }
            if (n == 0)
            {
                if (got == 0 && endAllowed) return false;
                throw new EndOfStreamException($"control connection closed inside a frame ({got} of {buffer.Length} bytes)");
            }
            got += n;
        }
        return true;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a new background thread, raised in priority where the OS lets us (see
    /// <see cref="TryRaiseCurrentThreadPriority"/>); the task completes when it returns (faults when it throws).
    /// </summary>
    public static Task StartThread(string name, Action body)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            TryRaiseCurrentThreadPriority();
            try { body(); done.TrySetResult(); }
            catch (Exception e) { done.TrySetException(e); }
        }) { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// A control thread sleeps in a read almost all the time and works for microseconds when a hold or commit comes;
    /// every millisecond it waits for a CPU after waking is a millisecond of write stall on every machine of the
    /// group. On a loaded 2-core machine that wait was tens of ms at p99, so it asks for a better share: nice -10
    /// for this thread on Linux (needs CAP_SYS_NICE; without it nothing changes), the highest priority elsewhere.
    /// Never a real-time class: a thread that misbehaved there could starve the machine it protects.
    /// </summary>
    public static bool TryRaiseCurrentThreadPriority()
    {
        try
        {
            if (!OperatingSystem.IsLinux())
            {
                Thread.CurrentThread.Priority = ThreadPriority.Highest;
                return true;
            }
            return SetPriority(PrioProcess, GetTid(), -10) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or PlatformNotSupportedException or ThreadStateException)
        {
            return false;
        }
    }

    const int PrioProcess = 0;

    // On Linux, PRIO_PROCESS with a thread id sets that thread's nice value only.
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    static extern int SetPriority(int which, int who, int prio);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "gettid")]
    static extern int GetTid();

    /// <summary>Closes the connection; a <see cref="Receive"/> blocked on another thread returns or throws at once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1) return;
        // Unregister, not Dispose: this may run inside that very callback, which Dispose would wait for.
        _closeOnStop.Unregister();
        try { _connection.Socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _connection.Dispose();
    }
}

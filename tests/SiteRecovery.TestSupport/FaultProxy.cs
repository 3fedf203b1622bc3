using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SiteRecovery.TestSupport;

/// <summary>
/// A loopback TCP proxy in front of a real service that can misbehave on command: pass bytes through, answer every HTTP
/// request with 503 and Retry-After, or drop connections after the request reached the service and before its answer
/// reached the client (so a write may be applied but never acknowledged). Switching to a fault also cuts every open
/// pass-through connection, whatever it was doing. Counts what it did so a test can tell the faults really happened, and
/// records every request it passed on (<see cref="Requests"/>), so a test can count what reached the service.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    public enum Mode { Pass, Answer503, DropAnswers }

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private readonly Task _accepting;
    private volatile Mode _mode = Mode.Pass;
    private int _answered503, _dropped, _cut;
    private readonly ConcurrentQueue<ProxiedRequest> _requests = new();

    private readonly bool _recordRequests;

    private FaultProxy(int targetPort, bool recordRequests)
    {
        _targetPort = targetPort;
        _recordRequests = recordRequests;
        _listener.Start();
        _accepting = Task.Run(AcceptAsync);
    }

    public static FaultProxy Start(int targetPort) => new(targetPort, recordRequests: true);

    /// <summary>A proxy for a protocol other than HTTP (a data-path link): bytes pass unread, nothing is recorded.</summary>
    public static FaultProxy StartRaw(int targetPort) => new(targetPort, recordRequests: false);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    /// <summary>Requests answered with 503.</summary>
    public int Answered503 => Volatile.Read(ref _answered503);
    /// <summary>Answers of the service thrown away with their connection.</summary>
    public int Dropped => Volatile.Read(ref _dropped);
    /// <summary>Pass-through connections cut when a fault began.</summary>
    public int Cut => Volatile.Read(ref _cut);
    /// <summary>Every request passed on to the service, in the order their heads went through.</summary>
    public IReadOnlyCollection<ProxiedRequest> Requests => _requests;
    /// <summary>Forgets the requests recorded so far.</summary>
    public void ClearRequests() => _requests.Clear();

    public void Set(Mode mode)
    {
        _mode = mode;
        if (mode == Mode.Pass) return;
        foreach (var socket in _open.Keys)
        {
            Reset(socket);
            Interlocked.Increment(ref _cut);
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try { client = await _listener.AcceptSocketAsync(_stop.Token); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            _ = Task.Run(() => ServeAsync(client, _mode));
        }
    }

    private async Task ServeAsync(Socket client, Mode mode)
    {
        try
        {
            if (mode == Mode.Answer503)
            {
                await Answer503Async(client);
                return;
            }
            using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            if (mode == Mode.Pass) _open.TryAdd(client, 0);
            var up = PumpAsync(client, server, dropAnswers: false, _recordRequests ? new RequestReader(_requests) : null);
            var down = PumpAsync(server, client, dropAnswers: mode == Mode.DropAnswers);
            await Task.WhenAny(up, down);
            Reset(server);
            Reset(client);
            await Task.WhenAll(up, down);
        }
        catch (Exception)
        {
            // A cut or reset connection: the client sees it and retries.
        }
        finally
        {
            _open.TryRemove(client, out _);
            client.Dispose();
        }
    }

    /// <summary>Copies until either side ends; with <paramref name="dropAnswers"/> the first answer other than "100 Continue" ends it unsent.</summary>
    private async Task PumpAsync(Socket from, Socket to, bool dropAnswers, RequestReader? requests = null)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0) return;
                if (dropAnswers && !Encoding.ASCII.GetString(buffer, 0, Math.Min(n, 12)).StartsWith("HTTP/1.1 100", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _dropped);
                    return;
                }
                requests?.Read(buffer.AsSpan(0, n));
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
        }
    }

    /// <summary>Reads one request (headers, and the body unless the client waits for 100 Continue), answers 503, closes.</summary>
    private async Task Answer503Async(Socket client)
    {
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(received)) < 0)
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            if (n == 0) return;
            received.Write(buffer, 0, n);
        }
        var headers = Encoding.ASCII.GetString(received.GetBuffer(), 0, headerEnd).ToLowerInvariant();
        if (!headers.Contains("expect: 100-continue"))
        {
            var length = headers.Split("\r\n").Select(l => l.StartsWith("content-length:") ? long.Parse(l["content-length:".Length..].Trim()) : -1).Max();
            var body = received.Length - (headerEnd + 4);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            while (body < length)
            {
                var n = await client.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0) return;
                body += n;
            }
        }
        var answer = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nx-ms-error-code: ServerBusy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray();
        await client.SendAsync(answer, SocketFlags.None, _stop.Token);
        Interlocked.Increment(ref _answered503);
        client.Shutdown(SocketShutdown.Both);
    }

    private static int IndexOfHeaderEnd(MemoryStream s) => s.GetBuffer().AsSpan(0, (int)s.Length).IndexOf("\r\n\r\n"u8);

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0); // close with RST, like a dropped connection
            socket.Close();
        }
        catch (Exception)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _accepting; }
        catch (Exception) { }
        foreach (var socket in _open.Keys) Reset(socket);
        _stop.Dispose();
    }

    /// <summary>Follows the HTTP/1.1 requests of one connection (heads and Content-Length bodies) and records each head.</summary>
    private sealed class RequestReader(ConcurrentQueue<ProxiedRequest> into)
    {
        private readonly List<byte> _head = [];
        private long _bodyLeft;

        public void Read(ReadOnlySpan<byte> bytes)
        {
            while (bytes.Length > 0)
            {
                if (_bodyLeft > 0)
                {
                    var skip = (int)Math.Min(_bodyLeft, bytes.Length);
                    _bodyLeft -= skip;
                    bytes = bytes[skip..];
                    continue;
                }
                _head.Add(bytes[0]);
                bytes = bytes[1..];
                var n = _head.Count;
                if (n < 4 || _head[n - 4] != '\r' || _head[n - 3] != '\n' || _head[n - 2] != '\r' || _head[n - 1] != '\n') continue;
                var lines = Encoding.ASCII.GetString(_head.ToArray()).Split("\r\n");
                _head.Clear();
                string? Header(string name) => lines.Skip(1).Where(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))
                    .Select(l => l[(name.Length + 1)..].Trim()).FirstOrDefault();
                var first = lines[0].Split(' ');
                _bodyLeft = long.TryParse(Header("content-length"), out var length) ? length : 0;
                into.Enqueue(new ProxiedRequest(first[0], first.Length > 1 ? first[1] : "", Header("x-ms-page-write"), _bodyLeft));
            }
        }
    }
}

/// <summary>One request a <see cref="FaultProxy"/> passed on: method, target (path and query), x-ms-page-write, body length.</summary>
public sealed record ProxiedRequest(string Method, string Target, string? PageWrite, long ContentLength)
{
    /// <summary>An UploadPages request (Put Page with x-ms-page-write: update).</summary>
    public bool IsUploadPages => Method == "PUT" && Target.Contains("comp=page", StringComparison.Ordinal) && string.Equals(PageWrite, "update", StringComparison.OrdinalIgnoreCase);
    /// <summary>A ClearPages request (Put Page with x-ms-page-write: clear).</summary>
    public bool IsClearPages => Method == "PUT" && Target.Contains("comp=page", StringComparison.Ordinal) && string.Equals(PageWrite, "clear", StringComparison.OrdinalIgnoreCase);
}

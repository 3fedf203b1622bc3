using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// A QEMU Machine Protocol session over the machine's control socket: one JSON object per line each way; the server
/// greets, the client negotiates capabilities, then every command gets exactly one <c>return</c> or <c>error</c> in
/// order, with asynchronous <c>event</c> lines possibly in between. Commands are sent one at a time (the callers
/// poll), so a reply needs no id to be matched with its command. Events are kept for the caller to look at, since a
/// block job that fails says why only in its completion event.
/// </summary>
sealed class QmpClient : IAsyncDisposable
{
    /// <summary>Longest socket path <c>connect</c> takes (sun_path, less its terminator).</summary>
    const int MaxSocketPath = 107;

    readonly Socket _socket;
    readonly StreamReader _reader;
    readonly StreamWriter _writer;
    readonly List<JsonObject> _events = [];

    QmpClient(Socket socket)
    {
        _socket = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new StreamReader(stream, Encoding.UTF8);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n", AutoFlush = true };
    }

    /// <summary>The events received so far, oldest first.</summary>
    public IReadOnlyList<JsonObject> Events => _events;

    /// <summary>Connects to <paramref name="socketPath"/> and leaves capabilities negotiation behind it.</summary>
    /// <exception cref="IOException">Nothing listens there, or the other end does not speak QMP.</exception>
    public static async Task<QmpClient> ConnectAsync(string socketPath, CancellationToken ct)
    {
        var full = Path.GetFullPath(socketPath);
        // A deep work folder makes a path connect() cannot take: a short link to it in the temp folder can.
        string? link = null;
        if (Encoding.UTF8.GetByteCount(full) > MaxSocketPath)
        {
            link = Path.Combine(Path.GetTempPath(), $"sr-qmp-{Guid.NewGuid():N}.sock");
            File.CreateSymbolicLink(link, full);
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(link ?? full), ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"control socket {full}: {e.Message}", e);
        }
        finally
        {
            if (link is not null) File.Delete(link);
        }
        var client = new QmpClient(socket);
        try
        {
            var greeting = await client.ReadAsync(ct).ConfigureAwait(false);
            if (greeting["QMP"] is null) throw new IOException($"control socket {full} did not greet as QMP: {greeting.ToJsonString()}");
            await client.ExecuteAsync("qmp_capabilities", null, ct).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="command"/> and returns its <c>return</c> value.</summary>
    /// <exception cref="QmpException">qemu answered with an error (its class and description are in the message).</exception>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        var message = new JsonObject { ["execute"] = command };
        if (arguments is not null) message["arguments"] = arguments;
        await _writer.WriteLineAsync(message.ToJsonString().AsMemory(), ct).ConfigureAwait(false);
        while (true)
        {
            var reply = await ReadAsync(ct).ConfigureAwait(false);
            if (reply["event"] is not null)
            {
                _events.Add(reply);
                continue;
            }
            if (reply["error"] is JsonObject error)
                throw new QmpException(command, $"{error["class"]?.GetValue<string>()}: {error["desc"]?.GetValue<string>()}");
            return reply["return"];
        }
    }

    async Task<JsonObject> ReadAsync(CancellationToken ct)
    {
        var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false)
            ?? throw new IOException("qemu closed its control socket (the machine stopped?)");
        try
        {
            return JsonNode.Parse(line) as JsonObject ?? throw new IOException($"qemu sent a line that is not a JSON object: {line}");
        }
        catch (JsonException e)
        {
            throw new IOException($"qemu sent a line that is not JSON: {line}", e);
        }
    }

    public ValueTask DisposeAsync()
    {
        _writer.Dispose();
        _reader.Dispose();
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>qemu refused a QMP command; the message names the command and qemu's reason.</summary>
public sealed class QmpException(string command, string reason) : Exception($"qemu refused {command}: {reason}");

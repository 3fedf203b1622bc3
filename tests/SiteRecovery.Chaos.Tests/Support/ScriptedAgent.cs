using System.Text;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// A hand-driven agent for one disk whose sends are serialized, answering the node's bookmark requests by inserting the
/// marker next in its stream (as an agent that never refuses would).
/// </summary>
public sealed class ScriptedAgent(FakeAgent agent, string disk, long size) : IAsyncDisposable
{
    readonly SemaphoreSlim _send = new(1, 1);
    long _next = 1;
    long _acked;
    Task? _reader;
    readonly CancellationTokenSource _stop = new();

    public const string AgentId = "scripted-agent";
    public long Acked => Interlocked.Read(ref _acked);
    /// <summary>Bookmark requests the node sent this agent.</summary>
    public int BookmarkRequests => Volatile.Read(ref _requests);
    int _requests;

    public Task<Resume> HelloAsync() => agent.HelloAsync(AgentId, disk, size);

    public void StartReading() => _reader = Task.Run(async () =>
    {
        while (!_stop.IsCancellationRequested)
        {
            ControlMessage m;
            try { m = await agent.ReadControlAsync(TimeSpan.FromMinutes(5)); }
            catch (Exception) { return; }
            switch (m)
            {
                case Ack a: Interlocked.Exchange(ref _acked, Math.Max(Acked, a.DurableThrough)); break;
                case BookmarkRequest req:
                    Interlocked.Increment(ref _requests);
                    var seq = await SendAsync(DeltaKind.Bookmark, 0, Encoding.UTF8.GetBytes(req.BookmarkId));
                    await _send.WaitAsync();
                    try { await agent.SendControlAsync(new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long> { [disk] = seq }, null)); }
                    finally { _send.Release(); }
                    break;
            }
        }
    });

    /// <summary>How far this agent's clock is off (its deltas' write stamps are shifted by it).</summary>
    public long ClockShiftMs { get; set; }

    public async Task<long> SendAsync(DeltaKind kind, long offset, byte[] payload)
    {
        await _send.WaitAsync();
        try
        {
            var seq = _next++;
            var length = kind == DeltaKind.Bookmark ? 0 : payload.Length;
            await agent.SendDeltaAsync(Delta.Create(disk, seq, kind, offset, length, payload, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + ClockShiftMs));
            return seq;
        }
        finally { _send.Release(); }
    }

    public Task<long> MarkerAsync(string text) => SendAsync(DeltaKind.Bookmark, 0, Encoding.UTF8.GetBytes(text));

    public async Task WaitAckedAsync(long seq, Node node)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Acked < seq)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"#{seq} not acknowledged\n{node.Logs()}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await agent.DisposeAsync();
        if (_reader is not null) await _reader;
    }
}

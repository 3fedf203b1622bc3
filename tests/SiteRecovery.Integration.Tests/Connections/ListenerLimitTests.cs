using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// A data-path listener serves a bounded number of connections at once: connections that never say hello (each held up
/// to the hello timeout) cannot take every socket of the node, and the listener serves real sessions again once they go.
/// </summary>
public sealed class ListenerLimitTests
{
    const int Limit = 3;

    static async Task<Socket> ConnectAsync(System.Net.IPEndPoint endpoint)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(endpoint);
        return s;
    }

    /// <summary>True when the peer closes (or resets) <paramref name="s"/> within <paramref name="timeout"/>.</summary>
    static async Task<bool> ClosedByPeerAsync(Socket s, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[64];
        try { return await s.ReceiveAsync(buffer, SocketFlags.None, cts.Token) == 0; }
        catch (OperationCanceledException) { return false; }
        catch (SocketException) { return true; }
    }

    [Fact]
    public async Task One_connection_past_the_limit_is_closed_at_once_and_a_real_session_is_served_after_the_others_go()
    {
        await using var site = await Site.StartServersAsync("listener-limit", s => s.ConfigureProcess = o => o with { MaxConnections = Limit });
        var silent = new List<Socket>();
        for (var i = 0; i < Limit; i++) silent.Add(await ConnectAsync(site.ProcessEndpoint!));
        using var extra = await ConnectAsync(site.ProcessEndpoint!);
        Assert.True(await ClosedByPeerAsync(extra, TimeSpan.FromSeconds(5)), $"connection {Limit + 1} was not closed although {Limit} were open");
        foreach (var s in silent) Assert.False(await ClosedByPeerAsync(s, TimeSpan.FromMilliseconds(100)), "a connection within the limit was closed before its hello timeout");
        lock (site.Log) Assert.Single(site.Log, l => l.Contains($"refusing connections: {Limit} are open", StringComparison.Ordinal));

        foreach (var s in silent) s.Dispose();
        // The server sees the silent ones go on its own time; until then a new connection may still be one too many.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            await using var agent = await WireClient.ConnectAsync(site.ProcessEndpoint!);
            try
            {
                Assert.Equal(0, await agent.HelloAsync("agent-after", "after", 1L << 20));
                break;
            }
            catch (IOException) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
        }
        lock (site.Log) Assert.Contains(site.Log, l => l.Contains("accepting connections again", StringComparison.Ordinal));
    }

    [Fact]
    public void A_limit_below_one_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionListener("test", new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), 0));
    }
}

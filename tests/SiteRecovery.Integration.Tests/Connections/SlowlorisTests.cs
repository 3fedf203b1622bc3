using System.Net.Sockets;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// Many connections that each trickle a frame header byte by byte and never finish a hello: every one is cut, by the
/// hello timeout or at once by the connection limit, while a real agent's sessions on the same listener keep
/// replicating and are never dropped.
/// </summary>
public sealed class SlowlorisTests
{
    const long Size = 8L << 20;
    const int Limit = 8;

    [Fact]
    public async Task A_slowloris_of_frame_headers_is_cut_by_the_hello_timeout_and_the_limit_while_a_real_session_keeps_replicating()
    {
        await using var site = await Site.StartAsync("slowloris", 1, Size, configure: s =>
            s.ConfigureProcess = o => o with { MaxConnections = Limit, HelloTimeout = TimeSpan.FromSeconds(1) });
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));
        int Connects() { lock (site.Log) return site.Log.Count(l => l.Contains("connected to process server") || l.Contains("agent agent-1 (")); }
        var connectsBefore = Connects();

        using var stop = new CancellationTokenSource();
        const int attackers = 3 * Limit;
        var cutPerAttacker = new int[attackers];
        var attack = Enumerable.Range(0, attackers).Select(i => Task.Run(() => TrickleAsync(site.ProcessEndpoint!, () => Interlocked.Increment(ref cutPerAttacker[i]), stop.Token))).ToList();

        // The agent's sessions were open before the attack: it goes on replicating through it.
        for (var round = 0; round < 3; round++)
        {
            await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P {0x30 + round} {round}M 1M\"", TimeSpan.FromMinutes(1));
            await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        }
        // Every attacker has been cut at least once (the hello timeout is 1 s; the limit cuts at once).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (cutPerAttacker.Any(c => Volatile.Read(ref c) == 0) && DateTime.UtcNow < deadline) await Task.Delay(50);
        await stop.CancelAsync();
        await Task.WhenAll(attack);

        Assert.True(cutPerAttacker.All(c => c > 0), $"attackers never cut: {string.Join(", ", cutPerAttacker.Select((c, i) => (c, i)).Where(x => x.c == 0).Select(x => x.i))}");
        lock (site.Log)
        {
            Assert.Contains(site.Log, l => l.Contains("no hello within 1 s of connecting"));
            Assert.Contains(site.Log, l => l.Contains($"refusing connections: {Limit} are open"));
        }
        Assert.Equal(connectsBefore, Connects());
        Assert.True(site.Process.Disks["disk1"].TargetAcked >= site.Agent.Exports[0].Stream.LastSequence, "the master target is behind the agent after the attack");
    }

    /// <summary>
    /// Connects again and again; each connection sends a header claiming a full control frame one byte every 100 ms and
    /// then body bytes at the same pace, never a whole hello. <paramref name="cut"/> counts the connections the server ended.
    /// </summary>
    static async Task TrickleAsync(System.Net.IPEndPoint endpoint, Action cut, CancellationToken stop)
    {
        var header = new byte[FrameHeader.Size];
        FrameHeader.Write(header, FrameHeader.MaxControlFrame, FrameType.Control);
        while (!stop.IsCancellationRequested)
        {
            using var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await s.ConnectAsync(endpoint, stop);
                for (var b = 0; ; b++)
                {
                    await s.SendAsync(new[] { b < header.Length ? header[b] : (byte)'{' }, SocketFlags.None, stop);
                    // A closed connection shows as a read of 0 (or a reset) well before a send fails.
                    var poll = s.Poll(0, SelectMode.SelectRead);
                    if (poll && s.Available == 0) { cut(); break; }
                    await Task.Delay(100, stop);
                }
            }
            catch (OperationCanceledException) { return; }
            catch (SocketException) { cut(); }
        }
    }
}

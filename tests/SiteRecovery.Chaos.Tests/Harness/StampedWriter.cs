using System.Net;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Capture.Tests;

namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>
/// The chaos workload of one disk: one write at a time through the agent's NBD export (the project's small NBD client),
/// each a <see cref="Stamp"/> of a block chosen at random among <see cref="Blocks"/>, recorded in the ledger with what
/// the server answered; every few writes, between two of them, a bookmark. A connection the agent's death cuts is
/// opened again once the agent is back; the write it cut counts as unanswered.
/// </summary>
public sealed class StampedWriter(string disk, EndPoint export, int blocks, long stride, Random rng,
    Func<string, Task<BookmarkAnswer>> bookmark, Action<string> log)
{
    /// <summary>How long the writer waits for the agent's export to come back before the run fails.</summary>
    static readonly TimeSpan ReconnectDeadline = TimeSpan.FromMinutes(3);

    public WriteLedger Ledger { get; } = new(disk);
    public int Blocks => blocks;
    public long Stride => stride;
    public long OffsetOf(int block) => block * stride;
    public int Reconnects { get; private set; }

    public async Task RunAsync(CancellationToken stop)
    {
        NbdTestClient? client = null;
        var untilBookmark = rng.Next(10, 40);
        var points = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                client ??= await ConnectAsync(stop);
                if (client is null) return;
                var write = Ledger.Send(rng.Next(blocks));
                var outcome = WriteOutcome.Unknown;
                try
                {
                    var error = await client.WriteAsync((ulong)OffsetOf(write.Block), write.Stamp.ToBlock());
                    if (error == NbdError.None) outcome = WriteOutcome.Acknowledged;
                    else
                    {
                        // An error answer (a shutting-down export): the write may not have happened; start afresh.
                        log($"{disk}: write {write.Id} answered {error}; reconnecting");
                        await client.DisposeAsync();
                        client = null;
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    log($"{disk}: write {write.Id} unanswered ({e.GetType().Name}: {e.Message.Split('\n')[0]}); reconnecting");
                    if (client is not null) await client.DisposeAsync();
                    client = null;
                }
                Ledger.Settle(write, outcome);
                if (--untilBookmark > 0) continue;
                untilBookmark = rng.Next(10, 40);
                var cut = Ledger.Cut();
                var name = $"{disk}-p{++points}";
                switch (await bookmark(name))
                {
                    case BookmarkAnswer.Confirmed: Ledger.Confirmed(name, cut); break;
                    case BookmarkAnswer.Unconfirmed: Ledger.Unconfirmed(name, cut); break;
                }
            }
        }
        finally
        {
            if (client is not null) await client.DisposeAsync();
        }
    }

    async Task<NbdTestClient?> ConnectAsync(CancellationToken stop)
    {
        var deadline = DateTime.UtcNow + ReconnectDeadline;
        while (true)
        {
            try
            {
                var (client, _) = await NbdTestClient.OpenAsync(export, disk);
                Reconnects++;
                return client;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (stop.IsCancellationRequested) return null;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"{disk}: the agent's export {export} did not come back within {ReconnectDeadline.TotalMinutes:0} min: {e.Message}");
                await Task.Delay(200, CancellationToken.None);
            }
        }
    }
}

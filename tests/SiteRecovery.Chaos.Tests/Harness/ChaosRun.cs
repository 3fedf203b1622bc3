using System.Diagnostics;
using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>
/// What a chaos run is: <paramref name="Nodes"/> nodes, <paramref name="Agents"/> agents, for <paramref name="Minutes"/>
/// of faults (0: the CI schedule, one fault of each kind), <paramref name="Seed"/> for every choice, and how many older
/// points per disk are recovered besides the latest.
/// </summary>
public sealed record ChaosOptions(int Nodes, int Agents, double Minutes, int Seed, int OlderPoints)
{
    public long DiskSize { get; init; } = 8L << 20;
    /// <summary>Blocks the writer chooses among (spread over the disk): few enough that blocks are overwritten many times.</summary>
    public int Blocks { get; init; } = 256;
    /// <summary>Writes every writer must have acknowledged between two faults, so each fault lands on a running workload.</summary>
    public int WritesBetweenFaults { get; init; } = 40;
}

/// <summary>The outcome: the verdict line, and every finding behind a non-zero count.</summary>
public sealed record ChaosVerdict(int Acknowledged, int Unanswered, int Lost, int Reordered, int PointsChecked, IReadOnlyList<string> Faults, IReadOnlyList<Finding> Findings)
{
    public string Line => $"{Acknowledged} writes acknowledged, {Lost} lost, {Reordered} reordered";
}

/// <summary>
/// A chaos run end to end: start the cluster, run a <see cref="StampedWriter"/> per disk, inject the schedule's faults
/// (each after every writer made progress since the last), stop the writers, take a last bookmark per disk, recover it
/// and older points at random through the node's recover API, and hold each to <see cref="PointCheck"/>; the latest
/// point must also equal the source disk byte for byte.
/// </summary>
public static class ChaosRun
{

    static readonly TimeSpan ProgressDeadline = TimeSpan.FromMinutes(4);

    public static async Task<ChaosVerdict> RunAsync(ChaosOptions o, Action<string> log)
    {
        var rng = new Random(o.Seed);
        await using var cluster = await ChaosCluster.StartAsync("chaos", o.Nodes, o.Agents, o.DiskSize, o.Seed);
        var stride = o.DiskSize / o.Blocks;
        var writers = cluster.Disks.Select((d, i) => new StampedWriter(d.Disk, ChaosCluster.ExportOf(d.Agent), o.Blocks, stride,
            new Random(o.Seed * 31 + i), name => BookmarkAsync(cluster, d.Disk, name, log), log)).ToList();
        var initial = cluster.Disks.Select(d => ReadBlocks(d.Path, o.Blocks, stride)).ToList();
        using var stop = new CancellationTokenSource();
        var running = writers.Select(w => Task.Run(() => w.RunAsync(stop.Token))).ToList();
        var faults = new List<string>();
        var clock = Stopwatch.StartNew();
        try
        {
            await ProgressAsync(cluster, writers, running, o.WritesBetweenFaults, points: 1, "the workload starting");
            var schedule = o.Minutes > 0 ? null : FaultSchedule.OneOfEach(rng, cluster);
            for (var i = 0; schedule is null ? clock.Elapsed.TotalMinutes < o.Minutes : i < schedule.Count; i++)
            {
                var fault = schedule?[i] ?? FaultSchedule.Any(rng, cluster);
                var what = fault.Describe(cluster);
                log($"{clock.Elapsed.TotalSeconds:0} s: fault {i + 1}: {what}");
                await fault.InjectAsync(cluster);
                faults.Add(what);
                await ProgressAsync(cluster, writers, running, o.WritesBetweenFaults, points: 1, $"after fault {i + 1} ({what})");
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(running.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
        foreach (var t in running) await t; // a writer that failed fails the run with its reason

        var findings = new List<Finding>();
        var checkedPoints = 0;
        for (var d = 0; d < writers.Count; d++)
        {
            var (disk, path, _) = cluster.Disks[d];
            var ledger = writers[d].Ledger;
            var latest = await LatestPointAsync(cluster, ledger, log);
            var older = ledger.Points.Where(p => p != latest).ToList();
            older = older.OrderBy(_ => rng.Next()).ToList();
            foreach (var point in older.Take(o.OlderPoints).Prepend(latest))
            {
                var image = cluster.Dir[$"{point.Bookmark}.recovered.img"];
                await cluster.Configuration.RecoverAsync(disk, point.Bookmark, image);
                var found = Check(o, ledger, point, image, initial[d], stride);
                if (point == latest && Files.Sha256(image) != Files.Sha256(path))
                    found.Add(new Finding(FindingKind.Lost, disk, point.Bookmark, -1, null, "the latest point differs from the source disk, taken with nothing writing"));
                log($"{disk} at {point.Bookmark} (cut {point.Cut}): {(found.Count == 0 ? "every block as acknowledged" : $"{found.Count} findings")}");
                findings.AddRange(found);
                checkedPoints++;
                File.Delete(image);
            }
            // A bookmark whose answer was lost may still have become a point; if it did, it is held to the same rule.
            foreach (var point in ledger.UnconfirmedPoints)
            {
                var image = cluster.Dir[$"{point.Bookmark}.recovered.img"];
                var r = await cluster.Configuration.Api.PostAsync("api/recover", new { disk, bookmark = point.Bookmark, output = image });
                if (r.Status == System.Net.HttpStatusCode.NotFound) continue;
                if (r.Status != System.Net.HttpStatusCode.OK)
                    throw new InvalidOperationException($"recover {disk} at unconfirmed bookmark {point.Bookmark}: {(int)r.Status} {r.Text}\n{cluster.Logs()}");
                var found = Check(o, ledger, point, image, initial[d], stride);
                log($"{disk} at unconfirmed {point.Bookmark}, which became a point (cut {point.Cut}): {(found.Count == 0 ? "every block as acknowledged" : $"{found.Count} findings")}");
                findings.AddRange(found);
                checkedPoints++;
                File.Delete(image);
            }
        }
        // A lost write counts once however many points miss it; a finding that names no write (a block that should
        // hold its initial bytes, the latest point against the source) counts on its own.
        var lost = findings.Where(f => f.Kind == FindingKind.Lost)
            .Select(f => f.ExpectedWrite is { } id ? $"{f.Disk} write {id}" : $"{f.Disk} {f.Bookmark} block {f.Block}").Distinct().Count();
        var reordered = findings.Count(f => f.Kind == FindingKind.Reordered);
        foreach (var f in findings.Take(20)) log(f.ToString());
        if (findings.Count > 0) log(cluster.Logs(60));
        return new ChaosVerdict(writers.Sum(w => w.Ledger.Acknowledged), writers.Sum(w => w.Ledger.Unknown), lost, reordered, checkedPoints, faults, findings);
    }

    static List<Finding> Check(ChaosOptions o, WriteLedger ledger, LedgerPoint point, string image, byte[][] initial, long stride)
    {
        var blocks = ReadBlocks(image, o.Blocks, stride);
        return PointCheck.Check(ledger.Disk, ledger.Writes, point, o.Blocks, b => blocks[b], b => initial[b]);
    }

    /// <summary>
    /// The last bookmark of a disk, with nothing writing and every process up. A loaded machine can make one try time out
    /// (the node answers that the marker may yet become a point), so it is asked again under a new name, the same cut.
    /// </summary>
    static async Task<LedgerPoint> LatestPointAsync(ChaosCluster c, WriteLedger ledger, Action<string> log)
    {
        const int Tries = 3;
        for (var attempt = 1; attempt <= Tries; attempt++)
        {
            var point = new LedgerPoint($"{ledger.Disk}-latest{attempt}", ledger.Cut());
            switch (await BookmarkAsync(c, ledger.Disk, point.Bookmark, log))
            {
                case BookmarkAnswer.Confirmed:
                    ledger.Confirmed(point.Bookmark, point.Cut);
                    return point;
                case BookmarkAnswer.Unconfirmed:
                    ledger.Unconfirmed(point.Bookmark, point.Cut);
                    break;
            }
        }
        throw new InvalidOperationException($"{ledger.Disk}: none of {Tries} last bookmarks, with every process up, was confirmed\n{c.Logs()}");
    }

    /// <summary>
    /// Asks for a bookmark; false when the node did not confirm it. A request refused at connect never reached the node
    /// and is no point; any other failure may have left a marker behind, so the caller keeps it to check at the end.
    /// </summary>
    static async Task<BookmarkAnswer> BookmarkAsync(ChaosCluster c, string disk, string name, Action<string> log)
    {
        try
        {
            await c.Configuration.BookmarkAsync(name, [disk], TimeSpan.FromSeconds(90));
            return BookmarkAnswer.Confirmed;
        }
        catch (HttpRequestException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
        {
            return BookmarkAnswer.NeverAsked;
        }
        catch (Exception e) when (e is InvalidOperationException or HttpRequestException or TaskCanceledException)
        {
            log($"bookmark {name} not confirmed (checked at the end if it became a point): {e.Message.Split('\n')[0]}");
            return BookmarkAnswer.Unconfirmed;
        }
    }

    /// <summary>Waits until every writer acknowledged <paramref name="writes"/> more writes and confirmed <paramref name="points"/> more bookmarks.</summary>
    static async Task ProgressAsync(ChaosCluster c, List<StampedWriter> writers, List<Task> running, int writes, int points, string when)
    {
        var from = writers.Select(w => (w.Ledger.Acknowledged, w.Ledger.Points.Count)).ToList();
        var deadline = DateTime.UtcNow + ProgressDeadline;
        while (!writers.Select((w, i) => w.Ledger.Acknowledged >= from[i].Acknowledged + writes && w.Ledger.Points.Count >= from[i].Count + points).All(x => x))
        {
            if (running.FirstOrDefault(t => t.IsCompleted) is { } ended)
            {
                await ended;
                throw new InvalidOperationException($"a writer ended early, {when}");
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no progress {when} within {ProgressDeadline.TotalMinutes:0} min: " +
                    string.Join(", ", writers.Select((w, i) => $"{w.Ledger.Disk} {w.Ledger.Acknowledged - from[i].Acknowledged} writes, {w.Ledger.Points.Count - from[i].Count} points")) +
                    $"\n{c.Logs()}");
            await Task.Delay(200);
        }
    }

    static byte[][] ReadBlocks(string path, int blocks, long stride)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var result = new byte[blocks][];
        for (var b = 0; b < blocks; b++)
        {
            result[b] = new byte[Stamp.BlockSize];
            f.Position = b * stride;
            f.ReadExactly(result[b]);
        }
        return result;
    }
}

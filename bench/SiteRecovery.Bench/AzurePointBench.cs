using System.Diagnostics;
using System.Globalization;
using System.Net;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench azure-points</c>: a recovery point materialized from blob storage (issue 16) against Azurite on
/// 127.0.0.1:10000. A master target on a page-blob replica with snapshot-points on takes a disk filled with random bytes,
/// a bookmark (its snapshot), then random 64 KiB writes over <c>--churn-percent</c> of the disk; the point is the last
/// of those writes, so it is read from the bookmark's snapshot plus the journal's records after it. Per disk size (a
/// quarter, a half and all of <c>--mib</c>), interleaved rounds of: the point to a local image from blob storage
/// (<c>RecoverFromSnapshotAsync</c>: image fsynced, its SHA-256 read back, as the recover API does), the same point as a new
/// page blob (<c>WritePointBlobAsync</c>), a plain SDK download of the snapshot's disk bytes to a file (fsynced), and the
/// master target's local recovery of the point. Prints seconds and MB/s each, the ratio of the materialization's rate to
/// the plain download's (the issue's target: at least 0.5) and how time scales with the disk's size.
/// </summary>
public static class AzurePointBench
{
    const string Usage = "usage: srbench azure-points [--mib 256] [--churn-percent 10] [--rounds 3] [--read-ahead 4]";
    const int FillBytes = 1 << 20;
    const int ChurnBytes = 64 << 10;

    sealed record Timing(long Mib, string What, double Seconds);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var mib = 256;
        var churnPercent = 10;
        var rounds = 3;
        // The node's default (HOCON point-read-ahead); 0 fetches the snapshot one piece at a time, as before read-ahead.
        var readAhead = PageBlobReplicaOptions.PointReadAheadDefault;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--mib": mib = int.TryParse(Value(), CultureInfo.InvariantCulture, out var m) && m is >= 16 and <= 8192 && m % 4 == 0 ? m : throw new ArgumentException("--mib: a multiple of 4 in 16..8192"); break;
                    case "--churn-percent": churnPercent = int.TryParse(Value(), CultureInfo.InvariantCulture, out var c) && c is >= 1 and <= 100 ? c : throw new ArgumentException("--churn-percent: 1..100"); break;
                    case "--rounds": rounds = int.TryParse(Value(), CultureInfo.InvariantCulture, out var r) && r is >= 1 and <= 20 ? r : throw new ArgumentException("--rounds: a count in 1..20"); break;
                    case "--read-ahead":
                        readAhead = int.TryParse(Value(), CultureInfo.InvariantCulture, out var a) && a is >= 0 and <= PageBlobReplicaOptions.PointReadAheadLimit
                            ? a : throw new ArgumentException($"--read-ahead: a count of 4 MiB pieces in 0..{PageBlobReplicaOptions.PointReadAheadLimit}");
                        break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
            AzuriteEmulator.RequireRunning();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"srbench azure-points: {e.Message}\n{Usage}");
            return 2;
        }

        var work = Path.Combine(Path.GetTempPath(), $"srbench-azure-points-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        var container = AzuriteEmulator.NewContainer("benchpoints");
        Console.WriteLine($"a point {churnPercent} % of the disk after its snapshot (random {ChurnBytes >> 10} KiB writes), read from blob storage; disks of {mib / 4}, {mib / 2} and {mib} MiB; " +
                          $"{rounds} interleaved round(s); read-ahead {readAhead} piece(s); Azurite 127.0.0.1:{AzuriteEmulator.Port} (scaled down, loopback: not a real account)");
        var timings = new List<Timing>();
        try
        {
            foreach (var sizeMib in new long[] { mib / 4, mib / 2, mib })
                timings.AddRange(await MeasureSizeAsync(work, container, sizeMib, churnPercent, rounds, readAhead, ct));
        }
        finally
        {
            await new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(container).DeleteIfExistsAsync(cancellationToken: CancellationToken.None);
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }

        Console.WriteLine();
        var whats = timings.Select(t => t.What).Distinct().ToList();
        Console.WriteLine($"{"disk",8} " + string.Join(" ", whats.Select(w => $"{w,26}")) + $" {"ratio",7}   (median seconds and MB/s of {rounds}; ratio: from-snapshot image MB/s / plain download MB/s, target >= 0.5)");
        var perMib = new Dictionary<string, List<double>>();
        foreach (var size in timings.Select(t => t.Mib).Distinct())
        {
            var cells = whats.Select(w => Median(timings.Where(t => t.Mib == size && t.What == w).Select(t => t.Seconds))).ToList();
            for (var i = 0; i < whats.Count; i++) (perMib.TryGetValue(whats[i], out var l) ? l : perMib[whats[i]] = []).Add(cells[i] / size);
            var ratio = cells[whats.IndexOf("plain download")] / cells[whats.IndexOf("image from snapshot")];
            Console.WriteLine($"{size + " MiB",8} " + string.Join(" ", cells.Select(s => $"{s,9:0.00} s {size * 1.048576 / s,9:0.0} MB/s")) + $" {ratio,7:0.00}");
        }
        Console.WriteLine();
        Console.WriteLine("scaling (seconds per MiB at each size, smallest to largest; flat means linear in the disk's size):");
        foreach (var (what, values) in perMib)
            Console.WriteLine($"  {what,-26} " + string.Join("  ", values.Select(v => $"{v * 1000,7:0.00} ms/MiB")));
        return 0;
    }

    static async Task<List<Timing>> MeasureSizeAsync(string work, string container, long sizeMib, int churnPercent, int rounds, int readAhead, CancellationToken ct)
    {
        var size = sizeMib << 20;
        var disk = $"d{sizeMib}";
        var mt = Path.Combine(work, $"mt-{sizeMib}");
        Directory.CreateDirectory(Path.Combine(mt, "disks", disk));
        await File.WriteAllTextAsync(Path.Combine(mt, "disks", disk, "disk.json"), $"{{\"DiskId\":\"{disk}\",\"SizeBytes\":{size}}}", ct);
        var account = StorageAccount.FromFile(AzuriteEmulator.WriteAccountFile(work));
        var options = new PageBlobReplicaOptions(container, "", TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(15), PageBlobReplicaOptions.UploadPagesLimit,
            new PageBlobRetryOptions(10, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(100)), CoalesceWrites: true) { SnapshotPoints = true, PointReadAhead = readAhead };
        var factory = new PageBlobReplicaStoreFactory(account, options, "bench");
        await (await factory.OpenAsync(disk, size, ct)).DisposeAsync();
        using var compression = new DeltaCompression();
        await using var target = new MasterTargetServer(new MasterTargetOptions("bench", new IPEndPoint(IPAddress.Loopback, 0), mt)
        {
            Retention = new RetentionOptions { Window = null },
        }, factory, new NoDataPathEvents(), _ => { });
        await target.StartAsync();
        var replica = await target.GetDiskAsync(disk);

        // The disk filled, the bookmark's snapshot, then the churn the point is read across.
        var rng = new Random(1);
        var fill = new byte[FillBytes];
        long seq = 0;
        for (long offset = 0; offset < size; offset += FillBytes)
        {
            rng.NextBytes(fill);
            await ReceiveAsync(replica, compression, Delta.Create(disk, ++seq, DeltaKind.Write, offset, FillBytes, fill.ToArray(), 1), ct);
        }
        await ReceiveAsync(replica, compression, Delta.Bookmark(disk, ++seq, "A", 1), ct);
        var snapshot = (await ((IPointSnapshots)replica.Replica).ListPointSnapshotsAsync(ct)).Single(s => s.Sequence == seq);
        var churn = new byte[ChurnBytes];
        for (long done = 0; done < size * churnPercent / 100; done += ChurnBytes)
        {
            rng.NextBytes(churn);
            var offset = rng.NextInt64(size / ChurnBytes) * ChurnBytes;
            await ReceiveAsync(replica, compression, Delta.Create(disk, ++seq, DeltaKind.Write, offset, ChurnBytes, churn.ToArray(), 1), ct);
        }
        var point = seq;
        Console.WriteLine($"{sizeMib} MiB: snapshot at #{snapshot.Sequence}, point #{point} ({point - snapshot.Sequence} journal records after the snapshot)");

        var snapshotBlob = new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(container)
            .GetPageBlobClient(disk + ".vhd").WithSnapshot(snapshot.Snapshot);
        var steps = new (string What, Func<int, Task> Run)[]
        {
            ("image from snapshot", async r => await target.RecoverFromSnapshotAsync(disk, point, Path.Combine(work, $"{disk}-{r}.snap.img"), null, ct)),
            ("page blob from snapshot", async r => await target.WritePointBlobAsync(disk, point, $"points/{disk}-{r}.vhd", null, ct)),
            ("plain download", r => PlainDownloadAsync(snapshotBlob, size, Path.Combine(work, $"{disk}-{r}.plain.img"), ct)),
            ("local recovery", async r => await target.RecoverAsync(disk, point, Path.Combine(work, $"{disk}-{r}.local.img"), null, ct)),
        };
        var timings = new List<Timing>();
        await steps[0].Run(-1); // warm-up (JIT, connections), not counted
        for (var round = 0; round < rounds; round++)
        {
            var order = round % 2 == 0 ? steps : steps.Reverse().ToArray();
            foreach (var (what, run) in order)
            {
                var clock = Stopwatch.StartNew();
                await run(round);
                timings.Add(new Timing(sizeMib, what, clock.Elapsed.TotalSeconds));
                Console.WriteLine($"  {sizeMib,5} MiB  {what,-26} {clock.Elapsed.TotalSeconds,7:0.00} s");
            }
            foreach (var file in Directory.EnumerateFiles(work, $"{disk}-*.img")) File.Delete(file);
        }
        return timings;
    }

    static async Task ReceiveAsync(ReplicaDisk disk, DeltaCompression compression, Delta delta, CancellationToken ct)
    {
        await disk.Gate.WaitAsync(ct);
        try
        {
            await disk.AppendAsync(delta, compression.EncodeStored(delta, compress: false), ct);
            await disk.CommitAsync(ct);
        }
        finally { disk.Gate.Release(); }
    }

    /// <summary>The snapshot's disk bytes with the SDK alone, to a file, fsynced: the best one reader gets from the account.</summary>
    static async Task PlainDownloadAsync(PageBlobClient snapshot, long size, string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
        var response = await snapshot.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(0, size) }, ct);
        await using (var content = response.Value.Content) await content.CopyToAsync(file, ct);
        file.Flush(flushToDisk: true);
    }

    static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}

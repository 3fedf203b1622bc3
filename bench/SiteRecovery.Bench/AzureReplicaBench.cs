using System.Diagnostics;
using System.Globalization;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench azure</c>: the master target's apply into its replica, per backend: a local sparse file, an Azure page blob
/// in Azurite with write coalescing and without it. Each run applies one stream of deltas the way the master target
/// does (<see cref="ReplicaApplier.ApplyAsync"/> per delta, the replica flushed every replica-flush-interval and at the
/// end, inside the timing), so MB/s is the apply rate the seam sustains; every request that reaches Azurite goes through a
/// <see cref="FaultProxy"/> passing bytes on, which counts them (requests per GiB). Two streams: sequential 64 KiB writes
/// (an initial replication's shape) and random 64 KiB writes (fio randwrite, as in the quickstart). Beside them a plain
/// upload of the same bytes with the SDK (UploadPages of 4 MiB, one after another): the best the account gives one writer.
/// Runs interleave (ABCD, then DCBA) against the setup's Azurite on 127.0.0.1:10000, which other users of the machine may
/// share. Not the whole master target: its journal append and fsync are left out, so the figures are the replica's share.
/// </summary>
public static class AzureReplicaBench
{
    const string Usage = "usage: srbench azure [--mib 256] [--rounds 2] [--flush-ms 1000]";
    const int DeltaBytes = 64 << 10;
    const double GiB = 1 << 30;

    sealed record Run(string Backend, string Stream, double MBps, double RequestsPerGiB, double UploadsPerGiB);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var mib = 256;
        var rounds = 2;
        var flushMs = 1000;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--mib": mib = int.TryParse(Value(), CultureInfo.InvariantCulture, out var m) && m is >= 16 and <= 8192 ? m : throw new ArgumentException("--mib: a size in 16..8192"); break;
                    case "--rounds": rounds = int.TryParse(Value(), CultureInfo.InvariantCulture, out var r) && r is >= 1 and <= 20 ? r : throw new ArgumentException("--rounds: a count in 1..20"); break;
                    case "--flush-ms": flushMs = int.TryParse(Value(), CultureInfo.InvariantCulture, out var f) && f is >= 10 and <= 60000 ? f : throw new ArgumentException("--flush-ms: 10..60000"); break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
            AzuriteEmulator.RequireRunning();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"srbench azure: {e.Message}\n{Usage}");
            return 2;
        }

        var work = Path.Combine(Path.GetTempPath(), $"srbench-azure-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        var container = AzuriteEmulator.NewContainer("bench");
        await using var proxy = FaultProxy.Start(AzuriteEmulator.Port);
        var account = StorageAccount.FromFile(AzuriteEmulator.WriteAccountFile(work, proxy.Port));
        var size = (long)mib << 20;
        var flushEvery = TimeSpan.FromMilliseconds(flushMs);
        Console.WriteLine($"apply of {mib} MiB per run in {DeltaBytes >> 10} KiB deltas, replica flushed every {flushMs} ms; {rounds} round(s) of each backend, interleaved; Azurite 127.0.0.1:{AzuriteEmulator.Port} through a counting proxy");
        Console.WriteLine($"scaled down: {mib} MiB disks on loopback (the issue's figures are for a real account); the journal is not in these runs");
        var runs = new List<Run>();
        try
        {
            var backends = new (string Name, Func<int, IReplicaStoreFactory>? Factory)[]
            {
                ("local file", n => new LocalFileReplicaStoreFactory(Path.Combine(work, $"local-{n}"), "bench")),
                ("page blob, coalesced", n => new PageBlobReplicaStoreFactory(account, Options(container, true), "bench")),
                ("page blob, one request per delta", n => new PageBlobReplicaStoreFactory(account, Options(container, false), "bench")),
                ("plain SDK upload, 4 MiB pages", null),
            };
            var n = 0;
            foreach (var stream in new[] { "sequential", "random" })
            {
                // Warm-up (JIT, connections), not counted.
                await ApplyAsync(backends[1].Factory!(n++), $"warm-{n}", 16L << 20, stream, flushEvery, proxy, ct);
                for (var round = 0; round < rounds; round++)
                {
                    var order = round % 2 == 0 ? backends : backends.Reverse().ToArray();
                    foreach (var (name, factory) in order)
                    {
                        var disk = $"disk-{n++}";
                        var (mbps, requests, uploads) = factory is null
                            ? await PlainUploadAsync(account, container, disk, size, proxy, ct)
                            : await ApplyAsync(factory(n), disk, size, stream, flushEvery, proxy, ct);
                        var gib = size / GiB;
                        runs.Add(new Run(name, stream, mbps, requests / gib, uploads / gib));
                        Console.WriteLine($"  {stream,-10} {name,-34} {mbps,7:0.0} MB/s  {requests / gib,8:0} requests/GiB  {uploads / gib,8:0} UploadPages/GiB");
                    }
                }
            }
        }
        finally
        {
            await new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(container).DeleteIfExistsAsync(cancellationToken: CancellationToken.None);
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }

        Console.WriteLine();
        Console.WriteLine($"{"stream",-10} {"replica",-34} {"MB/s",8} {"requests/GiB",13} {"UploadPages/GiB",16}  (medians of {rounds})");
        foreach (var group in runs.GroupBy(r => (r.Stream, r.Backend)))
            Console.WriteLine($"{group.Key.Stream,-10} {group.Key.Backend,-34} {Median(group.Select(r => r.MBps)),8:0.0} {Median(group.Select(r => r.RequestsPerGiB)),13:0} {Median(group.Select(r => r.UploadsPerGiB)),16:0}");
        return 0;
    }

    static PageBlobReplicaOptions Options(string container, bool coalesce) => new(
        container, "", TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(15), PageBlobReplicaOptions.UploadPagesLimit,
        new PageBlobRetryOptions(10, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(100)), coalesce);

    /// <summary>Applies <paramref name="size"/> bytes of 64 KiB write deltas to a new replica, flushing as the master target does; the final flush is timed.</summary>
    static async Task<(double MBps, long Requests, long Uploads)> ApplyAsync(IReplicaStoreFactory factory, string disk, long size, string stream, TimeSpan flushEvery, FaultProxy proxy, CancellationToken ct)
    {
        await using var store = await factory.OpenAsync(disk, size, ct);
        var payload = new byte[DeltaBytes];
        new Random(1).NextBytes(payload);
        var count = (int)(size / DeltaBytes);
        var offsets = Enumerable.Range(0, count).Select(i => (long)i * DeltaBytes).ToArray();
        if (stream == "random") new Random(2).Shuffle(offsets);
        var deltas = offsets.Select((o, i) => Delta.Create(disk, i + 1, DeltaKind.Write, o, DeltaBytes, payload, 1)).ToArray();
        proxy.ClearRequests();
        var clock = Stopwatch.StartNew();
        var lastFlush = TimeSpan.Zero;
        foreach (var delta in deltas)
        {
            await ReplicaApplier.ApplyAsync(store, delta, ct);
            if (clock.Elapsed - lastFlush >= flushEvery)
            {
                await store.FlushAsync(ct);
                lastFlush = clock.Elapsed;
            }
        }
        await store.FlushAsync(ct);
        clock.Stop();
        var requests = proxy.Requests.Count(r => r.IsUploadPages || r.IsClearPages || r.Method == "GET");
        var uploads = proxy.Requests.Count(r => r.IsUploadPages);
        return (size / 1e6 / clock.Elapsed.TotalSeconds, requests, uploads);
    }

    /// <summary>The same bytes with the SDK alone: a page blob of the size, UploadPages of 4 MiB one after another.</summary>
    static async Task<(double MBps, long Requests, long Uploads)> PlainUploadAsync(StorageAccount account, string container, string disk, long size, FaultProxy proxy, CancellationToken ct)
    {
        var blobs = account.Connect(new BlobClientOptions()).GetBlobContainerClient(container);
        await blobs.CreateIfNotExistsAsync(cancellationToken: ct);
        var blob = blobs.GetPageBlobClient(disk + ".plain");
        await blob.CreateAsync(size, new PageBlobCreateOptions(), ct);
        var chunk = new byte[PageBlobReplicaOptions.UploadPagesLimit];
        new Random(1).NextBytes(chunk);
        proxy.ClearRequests();
        var clock = Stopwatch.StartNew();
        for (long offset = 0; offset < size; offset += chunk.Length)
        {
            using var body = new MemoryStream(chunk, 0, (int)Math.Min(chunk.Length, size - offset), writable: false);
            await blob.UploadPagesAsync(body, offset, cancellationToken: ct);
        }
        clock.Stop();
        var uploads = proxy.Requests.Count(r => r.IsUploadPages);
        return (size / 1e6 / clock.Elapsed.TotalSeconds, uploads, uploads);
    }

    static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}

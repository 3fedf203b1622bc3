using System.Diagnostics;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench pit</c>: point-in-time materialization speed at the oldest point of a retention window, against a
/// plain read+write copy of the same size measured in the same run, plus the base roll-forward rate and the journal
/// space per GB of churn. Drives src/Journal's retention directly (a library figure: no process, no network).
/// A 1-hour window at 10 MB/s is 36 GB of churn, which does not fit here: the window is scaled to N checkpoint
/// intervals of the same shape (64 KiB writes at random offsets), and the scaling is printed beside the figure.
/// </summary>
public static class PitBench
{
    public const string Usage = """
        usage: srbench pit [--disk-mib N] [--intervals N] [--interval-mib N] [--work-dir DIR]
          --disk-mib      disk size (default 1024)
          --intervals     checkpoint intervals in the scaled window (default 8)
          --interval-mib  churn per checkpoint interval (default 64)
          --work-dir      parent of the temporary folder (default: the system temp folder)
        """;

    const int WriteBytes = 64 * 1024;
    const string Disk = "bench-pit";

    public static async Task<int> RunAsync(string[] args)
    {
        int diskMiB = 1024, intervals = 8, intervalMiB = 64;
        string? parent = null;
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--disk-mib": diskMiB = int.Parse(Value()); break;
                case "--intervals": intervals = int.Parse(Value()); break;
                case "--interval-mib": intervalMiB = int.Parse(Value()); break;
                case "--work-dir": parent = Value(); break;
                case "--help" or "-h": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"srbench pit: unknown argument '{args[i]}'\n{Usage}"); return 2;
            }
        }
        var work = Path.Combine(parent ?? Path.GetTempPath(), "srbench-pit-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(work);
        try { return await RunInAsync(work, (long)diskMiB << 20, intervals, (long)intervalMiB << 20); }
        finally { Directory.Delete(work, recursive: true); }
    }

    static async Task<int> RunInAsync(string work, long diskSize, int intervals, long intervalBytes)
    {
        using var compression = new DeltaCompression();
        var pool = new byte[16 << 20];
        new Random(1).NextBytes(pool);
        var rng = new Random(2);
        var seq = 0L;
        var time = 1_700_000_000_000L;
        var log = SegmentLog.Open(Path.Combine(work, "journal"));
        var retention = DiskRetention.Open(Path.Combine(work, "retention"), Disk, diskSize, log, compression,
            new RetentionOptions { Window = null, CheckpointIntervalBytes = intervalBytes });

        void Append(long offset, bool halfCompressible)
        {
            var data = pool.AsMemory(rng.Next(0, pool.Length - WriteBytes), WriteBytes);
            if (halfCompressible)
            {
                var copy = data.ToArray();
                Array.Fill(copy, (byte)0x5a, WriteBytes / 2, WriteBytes / 2);
                data = copy;
            }
            var d = Delta.Create(Disk, ++seq, DeltaKind.Write, offset, WriteBytes, data, time += 6); // ~10 MB/s of 64 KiB writes
            log.Append(compression.EncodeStored(d, compress: true), seq);
        }

        Console.WriteLine($"srbench pit: disk {diskSize >> 20} MiB, window of {intervals} checkpoint intervals x {intervalBytes >> 20} MiB of churn (64 KiB writes, random offsets)");
        // 1. Fill the disk (initial replication), then fold it into the base: the window starts at a full disk.
        var sw = Stopwatch.StartNew();
        for (long o = 0; o < diskSize; o += WriteBytes) Append(o, false);
        log.Flush();
        var fillSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        retention.RollForwardTo(seq);
        var rollSeconds = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"  initial fill: {diskSize >> 20} MiB journalled in {fillSeconds:0.0} s; folded into the base in {rollSeconds:0.0} s ({diskSize / 1e6 / rollSeconds:0} MB/s roll-forward)");

        // 2. The window: N intervals of churn, a checkpoint index after each.
        var churnWrites = intervalBytes / WriteBytes;
        var checkpointSeconds = 0.0;
        for (var k = 0; k < intervals; k++)
        {
            for (var w = 0; w < churnWrites; w++) Append(rng.NextInt64(0, diskSize / WriteBytes) * WriteBytes, false);
            log.Flush();
            sw.Restart();
            retention.MaybeCheckpoint();
            checkpointSeconds += sw.Elapsed.TotalSeconds;
        }
        var window = retention.Window();
        Console.WriteLine($"  window #{window.OldestSequence}..#{window.NewestSequence}, {retention.Checkpoints.Count} checkpoints, journal {log.SizeBytes / 1e6:0} MB; " +
                          $"indexing + writing checkpoints {checkpointSeconds / intervals * 1000:0} ms per interval");

        // 3. Plain copy of a file of the same size (read + write with the same 1 MiB buffer, fsync), then
        //    materialization at the oldest, middle and newest points, alternated over 5 rounds (best and median of each:
        //    the disk of a shared VM is noisy).
        var source = Path.Combine(work, "retention", BaseImage.ImageName);
        var plain = new List<double>();
        var oldest = new List<double>();
        var middle = new List<double>();
        var newest = new List<double>();
        for (var round = 0; round < 5; round++)
        {
            // Each timed step starts after a sync and a pause: deleting the previous 1 GiB output queues discards
            // (this file system is mounted with `discard`) that would otherwise slow whichever step runs next.
            Settle();
            plain.Add(PlainCopy(source, Path.Combine(work, "copy.img")));
            Settle();
            oldest.Add(await MaterializeAsync(retention, window.OldestSequence, Path.Combine(work, "oldest.img")));
            Settle();
            middle.Add(await MaterializeAsync(retention, (window.OldestSequence + window.NewestSequence) / 2, Path.Combine(work, "middle.img")));
            Settle();
            newest.Add(await MaterializeAsync(retention, window.NewestSequence, Path.Combine(work, "newest.img")));
        }
        double Mbs(List<double> s) => diskSize / 1e6 / s.Min();
        double Median(List<double> s) => diskSize / 1e6 / s.Order().ElementAt(s.Count / 2);
        var ratio = plain.Min() / oldest.Min();
        Console.WriteLine();
        Console.WriteLine("                                            best MB/s  median MB/s  ratio to plain copy (best / median)");
        Console.WriteLine($"  plain copy (read+write 1 MiB, fsync)      {Mbs(plain),8:0}  {Median(plain),10:0}");
        void Row(string name, List<double> t) => Console.WriteLine($"  {name,-42}{Mbs(t),8:0}  {Median(t),10:0}     {plain.Min() / t.Min():0.00} / {Median(t) / Median(plain):0.00}");
        Row("PIT materialize, oldest point of window", oldest);
        Row("PIT materialize, middle of window", middle);
        Row("PIT materialize, newest point", newest);
        Console.WriteLine($"  target: oldest point >= 0.5 of a plain copy: {(ratio >= 0.5 ? "met" : "MISSED")} ({ratio:0.00} best-to-best)");
        var memAvailable = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var touched = diskSize * 4 + log.SizeBytes;
        Console.WriteLine($"  scaling: window = {intervals} x {intervalBytes >> 20} MiB = {intervals * intervalBytes >> 20} MiB of churn stands for 1 h x 10 MB/s = 36 GB " +
                          $"({36_000_000_000 / intervalBytes} intervals of {intervalBytes >> 20} MiB); the oldest point reads the base only, so its cost does not grow with the window");
        Console.WriteLine($"  page cache: files touched ~{touched / 1e9:0.0} GB, MemAvailable {long.Parse(memAvailable) / 1e6:0.0} GB: " +
                          $"{(touched < long.Parse(memAvailable) * 1024 ? "reads were served from the page cache (both sides alike); writes are fsync'd" : "did NOT fit in the page cache")}");

        // 4. Window moves: one more interval of churn, then the base rolls forward past the oldest interval.
        for (var w = 0; w < churnWrites; w++) Append(rng.NextInt64(0, diskSize / WriteBytes) * WriteBytes, false);
        log.Flush();
        retention.MaybeCheckpoint();
        var target = retention.Checkpoints[0];
        sw.Restart();
        retention.RollForwardTo(target);
        Console.WriteLine($"  base roll-forward by one interval ({intervalBytes >> 20} MiB of churn): {intervalBytes / 1e6 / sw.Elapsed.TotalSeconds:0} MB/s (keeps up with 10 MB/s churn by {intervalBytes / 1e7 / sw.Elapsed.TotalSeconds:0}x)");
        retention.Dispose();
        log.Dispose();

        // 5. Journal space per GB of churn.
        Console.WriteLine();
        foreach (var (name, half) in new[] { ("incompressible", false), ("2:1 compressible", true) })
        {
            var dir = Path.Combine(work, "space-" + (half ? "half" : "rand"));
            using var space = SegmentLog.Open(dir);
            const long churn = 256L << 20;
            var s0 = seq;
            for (long b = 0; b < churn; b += WriteBytes)
            {
                var data = pool.AsMemory(rng.Next(0, pool.Length - WriteBytes), WriteBytes);
                if (half) { var c = data.ToArray(); Array.Fill(c, (byte)0x5a, WriteBytes / 2, WriteBytes / 2); data = c; }
                var d = Delta.Create(Disk, ++seq - s0, DeltaKind.Write, rng.NextInt64(0, diskSize / WriteBytes) * WriteBytes, WriteBytes, data, time);
                space.Append(compression.EncodeStored(d, compress: true), seq - s0);
            }
            space.Flush();
            Console.WriteLine($"  journal space, {name,-17}: {space.SizeBytes / (double)churn:0.000} GB per GB of churn (zstd level {compression.Level}, framing + delta header included)");
        }
        return ratio >= 0.5 ? 0 : 3;
    }

    static async Task<double> MaterializeAsync(DiskRetention retention, long sequence, string output)
    {
        File.Delete(output);
        var sw = Stopwatch.StartNew();
        using (var view = retention.OpenView(sequence))
            await PointInTimeMaterializer.MaterializeAsync(view, output, computeSha256: false);
        var s = sw.Elapsed.TotalSeconds;
        File.Delete(output);
        return s;
    }

    static double PlainCopy(string source, string target)
    {
        File.Delete(target);
        var sw = Stopwatch.StartNew();
        var buffer = new byte[1 << 20];
        using (var src = File.OpenHandle(source, FileMode.Open, FileAccess.Read))
        using (var dst = File.OpenHandle(target, FileMode.CreateNew, FileAccess.Write))
        {
            long offset = 0;
            int n;
            while ((n = RandomAccess.Read(src, buffer, offset)) > 0)
            {
                RandomAccess.Write(dst, buffer.AsSpan(0, n), offset);
                offset += n;
            }
            RandomAccess.FlushToDisk(dst);
        }
        var s = sw.Elapsed.TotalSeconds;
        File.Delete(target);
        return s;
    }

    static void Settle()
    {
        Tools.Run("sync", [], TimeSpan.FromMinutes(5));
        Thread.Sleep(1000);
    }
}

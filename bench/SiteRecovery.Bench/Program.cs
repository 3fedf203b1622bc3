using System.Globalization;
using SiteRecovery.Bench;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args.Length > 0 && args[0] == "stall") return await StallBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["pit", ..]) return await PitBench.RunAsync(args[1..]);
if (args is ["resync", ..]) return await ResyncBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["failover", ..]) return await FailoverBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["reprotect", ..]) return await ReprotectBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["cpu", ..])
{
    using var cpuCancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; cpuCancel.Cancel(); };
    return await CpuPerByteBench.RunAsync(args[1..], cpuCancel.Token);
}
if (args is ["nbd-tls", ..]) return await NbdTlsBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["tls", ..]) return await TlsHopBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["memory", ..]) return await IdleDiskMemoryBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["resume", ..]) return await ResumeAfterKillBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["azure", ..]) return await AzureReplicaBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["azure-points", ..]) return await AzurePointBench.RunAsync(args[1..], CancellationToken.None);
if (args is ["tls2a", ..])
{
    using var tlsCancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; tlsCancel.Cancel(); };
    return await TlsReplicationBench.RunAsync(args[1..], tlsCancel.Token);
}

BenchOptions options;
try { options = BenchOptions.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine($"srbench: {e.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}
if (options.Help) { Console.WriteLine(BenchOptions.Usage); return 0; }

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };

var bench = new Bench(options);
try
{
    var report = await bench.RunAsync(cancel.Token);
    var missed = report.Figures.Where(f => f.Met == false).ToList();
    if (missed.Count > 0)
        Console.WriteLine($"targets missed: {string.Join(", ", missed.Select(f => $"#{f.Id} {f.Name.Trim()}"))}");
    return options.Strict && missed.Count > 0 ? 3 : 0;
}
catch (BenchException e)
{
    Console.Error.WriteLine();
    Console.Error.WriteLine($"BENCH FAILED in step '{e.Step}': {e.Message}");
    Console.Error.WriteLine($"work directory kept for inspection: {bench.WorkDir}");
    return 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("BENCH CANCELLED (Ctrl-C)");
    return 130;
}
catch (Exception e)
{
    Console.Error.WriteLine();
    Console.Error.WriteLine($"BENCH FAILED (unexpected {e.GetType().Name}): {e}");
    Console.Error.WriteLine($"work directory kept for inspection: {bench.WorkDir}");
    return 1;
}

/// <summary>Command line of the bench.</summary>
public sealed record BenchOptions
{
    public bool Quick { get; init; }
    public bool Strict { get; init; }
    public bool Keep { get; init; }
    public bool Help { get; init; }
    public string? WorkParent { get; init; }
    public string? RepoRoot { get; init; }
    public string? ResultsDir { get; init; }
    public string Configuration { get; init; } = "Release";

    public const string Usage = """
        usage: srbench [--quick] [--strict] [--work-dir DIR] [--repo DIR] [--results DIR] [--configuration C] [--keep]
          --quick          short version (< 60 s): 256 MiB disk, 5 s timed runs
          --strict         exit 3 when a figure misses its target
          --work-dir DIR   parent of the fresh temporary data folder (default: the system temp folder);
                           figure 1 measures the disk holding this folder
          --repo DIR       repository root holding SiteRecovery.sln (default: found above this executable)
          --results DIR    where latest.json (and, for a full run, <date>.json) go (default: <repo>/bench/results)
          --configuration  build configuration of srnode and sragent (default Release)
          --keep           keep the data folder and logs after a successful run
        """;

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--quick" => o with { Quick = true },
                "--strict" => o with { Strict = true },
                "--keep" => o with { Keep = true },
                "--help" or "-h" => o with { Help = true },
                "--work-dir" => o with { WorkParent = Value() },
                "--repo" => o with { RepoRoot = Value() },
                "--results" => o with { ResultsDir = Value() },
                "--configuration" => o with { Configuration = Value() },
                _ => throw new ArgumentException($"unknown argument '{args[i]}'"),
            };
        }
        return o;
    }
}

/// <summary>Sizes and durations of one run; the quick profile scales everything down for CI.</summary>
public sealed record Profile(string Name, int DiskMiB, int DdMiB, int ThroughputMiB, int LagSeconds, int NbdSeconds)
{
    public static readonly Profile Full = new("full", 1024, 1024, 1024, 25, 15);
    public static readonly Profile Quick = new("quick", 256, 256, 256, 5, 5);
}

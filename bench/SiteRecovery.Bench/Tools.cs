using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>A step of the bench failed; <see cref="Step"/> names it so the failure message says what broke.</summary>
public sealed class BenchException(string step, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Step { get; } = step;
}

/// <summary>Runs the external tools the bench measures with (dd, fio, df, getconf).</summary>
public static partial class Tools
{
    public static string Run(string tool, IReadOnlyList<string> args, TimeSpan timeout) =>
        RunAsync(tool, args, timeout, "run " + tool).GetAwaiter().GetResult().StdOut;

    /// <summary>Sends a signal (STOP, CONT) to a process with kill(1); a failure stops the bench with the step named.</summary>
    public static void Signal(int pid, string signal, string step) =>
        RunAsync("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), step).GetAwaiter().GetResult();

    /// <summary>Runs a tool to completion; a nonzero exit, a timeout or a missing tool is a <see cref="BenchException"/> for <paramref name="step"/>.</summary>
    public static async Task<ProcessRun> RunAsync(string tool, IReadOnlyList<string> args, TimeSpan timeout, string step, CancellationToken ct = default)
    {
        ProcessRun r;
        try { r = await ExternalTool.RunAsync(tool, args, timeout, ct); }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception) { throw new BenchException(step, e.Message, e); }
        if (r.ExitCode != 0)
            // stderr apart: fio's error line would otherwise be cut off by the tail of its JSON report.
            throw new BenchException(step, $"{tool} {string.Join(' ', args)} exited {r.ExitCode}: {Tail(r.StdErr, 1500)}" + (r.StdOut.Length > 0 ? $"; output: {Tail(r.StdOut, 300)}" : ""));
        return r;
    }

    public static string Tail(string text, int chars) => text.Length <= chars ? text.Trim() : "…" + text[^chars..].Trim();

    /// <summary>fio's JSON report; fio's nbd engine prints a "connected" line first, so parse from the first line that opens an object.</summary>
    public static JsonNode ParseFioJson(string stdout, string step)
    {
        var start = stdout.IndexOf("\n{", StringComparison.Ordinal);
        var json = stdout.StartsWith('{') ? stdout : start >= 0 ? stdout[(start + 1)..] : null;
        if (json is null) throw new BenchException(step, "fio printed no JSON report: " + Tail(stdout, 500));
        try
        {
            var node = JsonNode.Parse(json) ?? throw new BenchException(step, "fio JSON report is empty");
            var job = node["jobs"]?[0] ?? throw new BenchException(step, "fio JSON report has no jobs");
            if (job["error"]?.GetValue<int>() is int err and not 0) throw new BenchException(step, $"fio job reported error {err}");
            return job;
        }
        catch (System.Text.Json.JsonException e) { throw new BenchException(step, "fio JSON report does not parse: " + e.Message); }
    }

    public sealed record FioWrite(long Bytes, double BytesPerSecond, double Seconds, double UsrCpuPercent, double SysCpuPercent, TimeSpan Wall);

    /// <summary>Runs one fio job (JSON output) and returns its write side.</summary>
    public static async Task<FioWrite> FioAsync(IEnumerable<string> args, TimeSpan timeout, string step, CancellationToken ct)
    {
        var all = args.Concat(["--output-format=json"]).ToList();
        var r = await RunAsync("fio", all, timeout, step, ct);
        var job = ParseFioJson(r.StdOut, step);
        var w = job["write"] ?? throw new BenchException(step, "fio JSON report has no write side");
        var bytes = w["io_bytes"]!.GetValue<long>();
        if (bytes <= 0) throw new BenchException(step, "fio wrote nothing");
        var runtimeMs = w["runtime"]!.GetValue<long>();
        return new FioWrite(bytes, w["bw_bytes"]!.GetValue<double>(), runtimeMs / 1000.0,
            job["usr_cpu"]!.GetValue<double>(), job["sys_cpu"]!.GetValue<double>(), r.Elapsed);
    }

    [GeneratedRegex(@"^(\d+) bytes .* copied, ([0-9.,e+-]+) s", RegexOptions.Multiline)]
    private static partial Regex DdSummary();

    /// <summary>One dd run: bytes and seconds from dd's own summary line.</summary>
    public static async Task<(long Bytes, double Seconds)> DdAsync(string source, string target, int countMiB, CancellationToken ct)
    {
        var r = await RunAsync("dd", [$"if={source}", $"of={target}", "bs=1M", $"count={countMiB}", "conv=fdatasync"], TimeSpan.FromMinutes(5), "raw disk write (dd)", ct);
        var m = DdSummary().Match(r.StdErr);
        if (!m.Success) throw new BenchException("raw disk write (dd)", "cannot read dd's summary: " + Tail(r.StdErr, 400));
        return (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value.Replace(',', '.'), CultureInfo.InvariantCulture));
    }
}

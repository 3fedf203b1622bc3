using System.Diagnostics;

namespace SiteRecovery.Contracts.Processes;

/// <summary>
/// Runs a command-line tool (qemu-io, fio, nbdcopy, dd, a `dotnet srctl.dll` run) to its end for a caller that treats
/// anything but a finished run as an error: the tests, the bench and srctl's quickstart. It is <see cref="BoundedProcess"/>
/// underneath, so a tool that hangs is killed with its process tree; what differs is that the output is kept whole
/// (callers parse fio's report and qemu-io's read-back) and that a timeout, a cancellation or a missing tool throws.
/// </summary>
public static class ExternalTool
{
    /// <summary>
    /// Output kept per stream. High enough for any report a caller parses; still a bound, because a paced fio whose disk
    /// died under it retries and prints until it is killed, and once filled a test host's memory that way.
    /// </summary>
    public const int OutputLimitChars = 16 << 20;

    /// <summary>The tool's path: <paramref name="tool"/> itself when it names a path, else found in PATH and the sbin folders.</summary>
    /// <exception cref="InvalidOperationException">The tool is not installed.</exception>
    public static string Find(string tool) =>
        tool.Contains('/') ? tool
        : BoundedProcess.FindCommand(tool) ?? throw new InvalidOperationException($"{tool} is not installed; tests/setup.sh installs it");

    /// <summary>
    /// Runs <paramref name="tool"/> and returns how it exited, whatever the exit code.
    /// <paramref name="ct"/> stops it early (a background load no longer needed): the tree is killed and the cancellation rethrown.
    /// </summary>
    /// <exception cref="TimeoutException">It did not finish within <paramref name="timeout"/> (and was killed).</exception>
    public static async Task<ProcessRun> RunAsync(string tool, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct = default, Action<Process>? started = null)
    {
        var list = args.ToList();
        var run = await BoundedProcess.RunAsync(Find(tool), list, null, timeout, ct, OutputLimitChars, started).ConfigureAwait(false);
        return Ended(tool, string.Join(' ', list), run, timeout, ct);
    }

    /// <summary>As <see cref="RunAsync(string, IEnumerable{string}, TimeSpan, CancellationToken, Action{Process}?)"/>, the arguments as one command line (double quotes group words).</summary>
    public static async Task<ProcessRun> RunAsync(string tool, string commandLine, TimeSpan timeout, CancellationToken ct = default) =>
        Ended(tool, commandLine, await BoundedProcess.RunCommandLineAsync(Find(tool), commandLine, null, timeout, ct, OutputLimitChars).ConfigureAwait(false), timeout, ct);

    /// <summary>Runs <paramref name="tool"/> and fails, with its output, unless it exits 0.</summary>
    /// <exception cref="InvalidOperationException">It exited nonzero; the message quotes the command and all its output.</exception>
    public static async Task<ProcessRun> RunOkAsync(string tool, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct = default)
    {
        var list = args.ToList();
        return Ok(tool, string.Join(' ', list), await RunAsync(tool, list, timeout, ct).ConfigureAwait(false));
    }

    /// <summary>As <see cref="RunOkAsync(string, IEnumerable{string}, TimeSpan, CancellationToken)"/>, the arguments as one command line.</summary>
    public static async Task<ProcessRun> RunOkAsync(string tool, string commandLine, TimeSpan timeout, CancellationToken ct = default) =>
        Ok(tool, commandLine, await RunAsync(tool, commandLine, timeout, ct).ConfigureAwait(false));

    static ProcessRun Ended(string tool, string args, ProcessRun run, TimeSpan timeout, CancellationToken ct)
    {
        if (run.Cancelled) throw new OperationCanceledException($"{tool} {args} was stopped", ct);
        if (run.TimedOut) throw new TimeoutException($"{tool} {args} did not finish within {timeout.TotalSeconds:0} s (killed with its process tree)\n{Tail(run.Output)}");
        return run;
    }

    /// <summary>The end of what a hung tool printed: where it got stuck, without a paced fio's hours of retries.</summary>
    static string Tail(string output) => output.Length <= 4000 ? output : "…" + output[^4000..];

    static ProcessRun Ok(string tool, string args, ProcessRun run) =>
        run.ExitCode == 0 ? run : throw new InvalidOperationException($"{tool} {args} exited {run.ExitCode}:\n{run.Output}");
}

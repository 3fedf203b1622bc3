using System.Diagnostics;
using System.Text;

namespace SiteRecovery.Contracts.Processes;

/// <summary>How one hook process ended. <see cref="ExitCode"/> is null when it was killed (timeout or cancellation).</summary>
public sealed record ProcessRun(int? ExitCode, bool TimedOut, bool Cancelled, string StdOut, string StdErr, TimeSpan Elapsed)
{
    /// <summary>Stdout then stderr, as one text (what a test searches for a tool's verdict, wherever the tool printed it).</summary>
    public string Output => StdOut + StdErr;
}

/// <summary>
/// Runs one command with a deadline (freeze hooks, recovery-plan scripts, qemu-img and the like). On timeout or cancellation the whole process tree is killed
/// (SIGKILL to the hook and every descendant still attached to it), so a hanging hook cannot keep the
/// point waiting. What is not waited for, on purpose: a process stuck in uninterruptible sleep (a freeze
/// waiting on I/O) outlives SIGKILL until the kernel lets go, and a child the hook left running can hold
/// its output pipes open; both get a short grace, then the run is reported as it stands.
/// </summary>
public static class BoundedProcess
{
    /// <summary>Output kept per stream; the rest is read and dropped so a chatty hook never blocks on a full pipe.</summary>
    public const int OutputLimitChars = 8 * 1024;

    static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>Starts <paramref name="file"/> with <paramref name="args"/> (stdin closed). Throws <see cref="System.ComponentModel.Win32Exception"/> when it cannot be started.</summary>
    /// <param name="outputLimitChars">Output kept per stream; a caller that parses a whole report (fio's JSON) raises it.</param>
    /// <param name="started">Called once the process runs, before the wait (a caller that must signal or kill it mid-run).</param>
    public static Task<ProcessRun> RunAsync(string file, IReadOnlyList<string> args, string? workingDirectory, TimeSpan timeout, CancellationToken ct,
        int outputLimitChars = OutputLimitChars, Action<Process>? started = null)
    {
        var psi = StartInfo(file, workingDirectory);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return RunAsync(psi, timeout, ct, outputLimitChars, started);
    }

    /// <summary>
    /// As <see cref="RunAsync(string, IReadOnlyList{string}, string?, TimeSpan, CancellationToken, int, Action{Process}?)"/>, with the
    /// arguments as one command line that the runtime splits (double quotes group words), for callers that build one string.
    /// </summary>
    public static Task<ProcessRun> RunCommandLineAsync(string file, string commandLine, string? workingDirectory, TimeSpan timeout, CancellationToken ct,
        int outputLimitChars = OutputLimitChars, Action<Process>? started = null)
    {
        var psi = StartInfo(file, workingDirectory);
        psi.Arguments = commandLine;
        return RunAsync(psi, timeout, ct, outputLimitChars, started);
    }

    static ProcessStartInfo StartInfo(string file, string? workingDirectory) => new(file)
    {
        UseShellExecute = false,
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
    };

    static async Task<ProcessRun> RunAsync(ProcessStartInfo psi, TimeSpan timeout, CancellationToken ct, int outputLimitChars, Action<Process>? started)
    {
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        process.Start();
        // A hook that prompts would otherwise wait for an answer until its timeout: it reads end-of-file at once.
        process.StandardInput.Close();
        var stdout = ReadCappedAsync(process.StandardOutput, outputLimitChars);
        var stderr = ReadCappedAsync(process.StandardError, outputLimitChars);
        started?.Invoke(process);

        bool timedOut = false, cancelled = false;
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            limit.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                cancelled = ct.IsCancellationRequested;
                timedOut = !cancelled;
                KillTree(process);
                try { await process.WaitForExitAsync(CancellationToken.None).WaitAsync(Grace).ConfigureAwait(false); }
                catch (TimeoutException) { }
            }
        }

        var elapsed = clock.Elapsed;
        var exit = !timedOut && !cancelled && process.HasExited ? process.ExitCode : (int?)null;
        return new ProcessRun(exit, timedOut, cancelled, await TakeAsync(stdout).ConfigureAwait(false), await TakeAsync(stderr).ConfigureAwait(false), elapsed);
    }

    static void KillTree(Process process)
    {
        try { process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // exited between the deadline and the kill
        catch (System.ComponentModel.Win32Exception) { } // a descendant exited while the tree was walked
    }

    static async Task<string> TakeAsync(Task<StringBuilder> reading)
    {
        try { return (await reading.WaitAsync(Grace).ConfigureAwait(false)).ToString(); }
        catch (TimeoutException) { return "(output still open after the process ended)"; }
        catch (IOException) { return string.Empty; }
    }

    static async Task<StringBuilder> ReadCappedAsync(StreamReader reader, int limit)
    {
        var kept = new StringBuilder();
        var buffer = new char[1024];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            var room = limit - kept.Length;
            if (room > 0) kept.Append(buffer, 0, Math.Min(room, n));
        }
        return kept;
    }

    /// <summary>
    /// The output worth quoting in a result: stderr, else stdout, on one line, at most <paramref name="max"/> characters
    /// ("…" marks a cut), in single quotes. Hook output is quoted for the operator: hooks must not print secrets.
    /// </summary>
    public static string Quote(ProcessRun run, int max = 200)
    {
        var (stream, text) = !string.IsNullOrWhiteSpace(run.StdErr) ? ("stderr", run.StdErr)
            : !string.IsNullOrWhiteSpace(run.StdOut) ? ("stdout", run.StdOut)
            : ("", "");
        if (text.Length == 0) return "no output";
        var line = string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        if (line.Length > max) line = line[..max] + "…";
        return $"{stream} '{line}'";
    }

    /// <summary>Finds a command in PATH and the sbin folders (not always in a service's PATH); null when absent.</summary>
    public static string? FindCommand(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && IsExecutable(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>True when some execute bit is set (Unix); on Windows any existing file counts.</summary>
    public static bool IsExecutable(string path)
    {
        if (OperatingSystem.IsWindows()) return File.Exists(path);
        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        return (File.GetUnixFileMode(path) & anyExecute) != 0;
    }
}

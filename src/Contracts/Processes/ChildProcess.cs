using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SiteRecovery.Contracts.Processes;

/// <summary>
/// A long-running child (srnode, sragent, nbdkit) that srctl's quickstart or the bench starts and later stops: every line
/// it prints, on either stream, is appended to <c>name.log</c> in its working directory and the last few are kept for an
/// error message. Unlike <see cref="ExternalTool"/> nothing waits for it to end; it ends when it is stopped or killed.
/// </summary>
public sealed partial class ChildProcess : IAsyncDisposable
{
    const int KeptLines = 40;
    const int SigKill = 9, SigTerm = 15;

    readonly Process _process;
    readonly StreamWriter _log;
    readonly List<string> _recent = [];

    public string Name { get; }
    public string LogPath { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    ChildProcess(string name, Process process, string logPath, Action<string>? onLine)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        _log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        void Line(string? l)
        {
            if (l is null) return;
            lock (_log)
            {
                _log.WriteLine(l);
                _recent.Add(l);
                if (_recent.Count > KeptLines) _recent.RemoveAt(0);
            }
            onLine?.Invoke(l);
        }
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Starts <paramref name="file"/>; <paramref name="onLine"/> sees each line as it is logged. Throws <see cref="System.ComponentModel.Win32Exception"/> when it cannot be started.</summary>
    public static ChildProcess Start(string name, string file, IEnumerable<string> args, string workingDirectory, Action<string>? onLine = null)
    {
        var psi = StartInfo(file, workingDirectory);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Start(name, psi, onLine);
    }

    /// <summary>As <see cref="Start(string, string, IEnumerable{string}, string, Action{string}?)"/>, the arguments as one command line (double quotes group words).</summary>
    public static ChildProcess StartCommandLine(string name, string file, string commandLine, string workingDirectory, Action<string>? onLine = null)
    {
        var psi = StartInfo(file, workingDirectory);
        psi.Arguments = commandLine;
        return Start(name, psi, onLine);
    }

    static ProcessStartInfo StartInfo(string file, string workingDirectory) =>
        new(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };

    static ChildProcess Start(string name, ProcessStartInfo psi, Action<string>? onLine)
    {
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {psi.FileName}");
        return new ChildProcess(name, p, Path.Combine(psi.WorkingDirectory, name + ".log"), onLine);
    }

    /// <summary>The last lines it printed, one per line, indented for an error message.</summary>
    public string RecentOutput() { lock (_log) return string.Join("\n  ", _recent.TakeLast(12)); }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    /// <summary>SIGKILL to this process alone, as a crash: nothing is flushed or drained, and what it started is left running. Waits for the exit.</summary>
    public async Task Kill9Async()
    {
        if (_process.HasExited) return;
        SysKill(_process.Id, SigKill);
        await _process.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>SIGTERM, then SIGKILL to its whole tree if it has not exited within <paramref name="grace"/>. Returns false when it had to be killed.</summary>
    public async Task<bool> StopAsync(TimeSpan grace)
    {
        if (_process.HasExited) return true;
        SysKill(_process.Id, SigTerm);
        using var cts = new CancellationTokenSource(grace);
        try { await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false); return true; }
        catch (OperationCanceledException)
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await _process.WaitForExitAsync().ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>Stops it (30 s grace) and closes its log.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        _process.Dispose();
        lock (_log) _log.Dispose();
    }
}

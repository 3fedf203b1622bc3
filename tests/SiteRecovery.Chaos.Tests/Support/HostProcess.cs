using System.Diagnostics;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// One of the project's executables (srnode.dll, sragent.dll) run as `dotnet X.dll ...`. Every line of
/// stdout and stderr is kept (and appended to a log file); the process is killed on dispose.
/// </summary>
public sealed class HostProcess : IDisposable
{
    readonly Process _process;
    readonly List<string> _lines = [];
    readonly List<string> _stderr = [];
    readonly StreamWriter _log;
    readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    event Action<string>? LineReceived;

    HostProcess(string name, Process process, StreamWriter log)
    {
        Name = name;
        _process = process;
        _log = log;
    }

    public string Name { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public static HostProcess Start(string name, string dll, IEnumerable<string> args, string logDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = logDirectory,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        var log = new StreamWriter(Path.Combine(logDirectory, name + ".log"), append: true) { AutoFlush = true };
        log.WriteLine($"---- {DateTime.UtcNow:HH:mm:ss.fff} start: dotnet {string.Join(' ', psi.ArgumentList)}");
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var host = new HostProcess(name, process, log);
        process.OutputDataReceived += (_, e) => host.OnLine(e.Data, false);
        process.ErrorDataReceived += (_, e) => host.OnLine(e.Data, true);
        if (!process.Start()) throw new InvalidOperationException($"cannot start {name}");
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    void OnLine(string? line, bool stderr)
    {
        if (line is null)
        {
            (stderr ? _errorClosed : _outputClosed).TrySetResult();
            return;
        }
        lock (_lines)
        {
            _lines.Add(line);
            if (stderr) _stderr.Add(line);
            try { _log.WriteLine(line); } catch (ObjectDisposedException) { }
        }
        LineReceived?.Invoke(line);
    }

    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToList(); } }
    public string StdErr { get { lock (_lines) return string.Join('\n', _stderr); } }

    public string Tail(int n = 40) { lock (_lines) return $"--- {Name} (last {n} lines)\n" + string.Join('\n', _lines.TakeLast(n)); }

    public bool HasLine(Func<string, bool> predicate) { lock (_lines) return _lines.Any(predicate); }

    /// <summary>Waits for a line matching <paramref name="predicate"/> (already seen or new); fails if the process exits first.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, string what)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(string l) { if (predicate(l)) found.TrySetResult(l); }
        LineReceived += Handler;
        try
        {
            lock (_lines)
                foreach (var l in _lines)
                    if (predicate(l)) return l;
            var exited = _process.WaitForExitAsync();
            var winner = await Task.WhenAny(found.Task, exited, Task.Delay(timeout));
            if (winner == found.Task) return await found.Task;
            if (winner == exited)
            {
                await DrainAsync();
                if (found.Task.IsCompleted) return await found.Task;
                throw new InvalidOperationException($"{Name} exited ({_process.ExitCode}) before {what}\n{Tail()}");
            }
            throw new TimeoutException($"{Name}: no {what} within {timeout.TotalSeconds:0} s\n{Tail()}");
        }
        finally { LineReceived -= Handler; }
    }

    /// <summary>Waits (up to 5 s) until both output streams reached their end, so a tail taken after exit is complete.</summary>
    public async Task DrainAsync()
    {
        try { await Task.WhenAll(_outputClosed.Task, _errorClosed.Task).WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (TimeoutException) { }
    }

    /// <summary>Waits for the process to exit on its own; kills it and throws on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try { await _process.WaitForExitAsync().WaitAsync(timeout); }
        catch (TimeoutException)
        {
            Kill9();
            throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds:0} s\n{Tail()}");
        }
        await DrainAsync();
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown code runs, exactly like a crash.</summary>
    public void Kill9()
    {
        if (_process.HasExited) return;
        lock (_lines) { try { _log.WriteLine($"---- {DateTime.UtcNow:HH:mm:ss.fff} kill -9 {_process.Id}"); } catch (ObjectDisposedException) { } }
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(10_000);
    }

    /// <summary>SIGTERM and wait; SIGKILL if it does not stop in time.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_process.HasExited) return;
        await ExternalTool.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        try { await _process.WaitForExitAsync().WaitAsync(timeout); }
        catch (TimeoutException) { Kill9(); }
    }

    public void Dispose()
    {
        Kill9();
        DrainAsync().GetAwaiter().GetResult();
        lock (_lines) _log.Dispose();
        _process.Dispose();
    }
}

using System.Diagnostics;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.TestSupport;

/// <summary>
/// One interactive qemu-io connected to an NBD export for as long as a test wants: a client of the protected disk
/// that stays connected across a stop or a group bookmark, fed one command at a time. Unlike a run of
/// <see cref="ExternalTool"/> it is not run to its end; it ends on "quit" or is killed on dispose.
/// </summary>
public sealed class QemuIoSession : IAsyncDisposable
{
    readonly Process _p;
    readonly List<string> _lines = [];
    readonly SemaphoreSlim _newLine = new(0);
    readonly Task _stdoutRead;
    readonly Task<string> _stderr;
    int _linesSeen;

    QemuIoSession(Process p)
    {
        _p = p;
        _stderr = p.StandardError.ReadToEndAsync();
        _stdoutRead = ReadLinesAsync();
    }

    /// <summary>Starts <c>qemu-io -f raw <paramref name="uri"/></c>; a missing qemu-io fails the test.</summary>
    public static QemuIoSession Start(string uri)
    {
        var psi = new ProcessStartInfo(ExternalTool.Find("qemu-io")) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-f", "raw", uri }) psi.ArgumentList.Add(a);
        return new QemuIoSession(Process.Start(psi) ?? throw new InvalidOperationException("cannot start qemu-io"));
    }

    public int Pid => _p.Id;
    public bool Exited => _p.HasExited;

    /// <summary>True when <see cref="OutputAsync"/> had to kill it: it did not quit within 10 s.</summary>
    public bool Killed { get; private set; }

    async Task ReadLinesAsync()
    {
        while (await _p.StandardOutput.ReadLineAsync() is { } line)
        {
            lock (_lines) _lines.Add(line);
            _newLine.Release();
        }
        _newLine.Release();
    }

    /// <summary>
    /// Sends one command and gives qemu-io time to take it: reading a pipe, it handles one line per wake-up and leaves
    /// the rest waiting, so commands written together would be run late.
    /// </summary>
    public async Task SendAsync(string command)
    {
        await _p.StandardInput.WriteLineAsync(command);
        await _p.StandardInput.FlushAsync();
        await Task.Delay(300);
    }

    /// <summary>Sends a write and waits (60 s at most) for qemu-io's "wrote" line; a failure line or its exit throws.</summary>
    public async Task WriteAsync(string command)
    {
        await _p.StandardInput.WriteLineAsync(command);
        await _p.StandardInput.FlushAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            string? line = null;
            lock (_lines)
                if (_linesSeen < _lines.Count) line = _lines[_linesSeen++];
            if (line is null)
            {
                if (_stdoutRead.IsCompleted && _newLine.CurrentCount == 0) throw new InvalidOperationException($"qemu-io exited: {await _stderr}");
                await _newLine.WaitAsync(cts.Token);
                continue;
            }
            if (line.Contains("wrote ", StringComparison.Ordinal)) return;
            if (line.Contains("fail", StringComparison.OrdinalIgnoreCase) || line.Contains("error", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"qemu-io: {command}: {line}");
        }
    }

    /// <summary>Everything it printed (stdout, then stderr), once it has exited; killed if it has not within 10 s.</summary>
    public async Task<string> OutputAsync()
    {
        using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _p.WaitForExitAsync(exit.Token); }
        catch (OperationCanceledException)
        {
            Killed = true;
            Kill();
        }
        await _stdoutRead;
        var stderr = await _stderr;
        lock (_lines) return string.Concat(_lines.Select(l => l + "\n")) + stderr;
    }

    void Kill()
    {
        try { _p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    /// <summary>Asks it to quit (5 s), else kills it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_p.HasExited)
        {
            try
            {
                await _p.StandardInput.WriteLineAsync("quit");
                await _p.StandardInput.FlushAsync();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException) { }
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await _p.WaitForExitAsync(exit.Token); } catch (OperationCanceledException) { Kill(); }
        }
        _p.Dispose();
        _newLine.Dispose();
    }
}

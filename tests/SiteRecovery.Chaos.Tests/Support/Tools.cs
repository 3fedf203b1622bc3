using System.Diagnostics;

namespace SiteRecovery.Chaos.Tests.Support;

public sealed record ToolResult(int ExitCode, string StdOut, string StdErr)
{
    public string Output => StdOut + StdErr;
}

/// <summary>Runs external programs (fio, qemu-io, nbdcopy, dotnet) with a hard timeout; the process tree is killed on timeout or cancellation.</summary>
public static class Tools
{
    public static string Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin").Append("/usr/sbin"))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException($"{tool} is not installed; tests/setup.sh installs it");
    }

    public static async Task<ToolResult> RunAsync(string tool, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct = default, Action<Process>? started = null)
    {
        var psi = new ProcessStartInfo(tool.Contains('/') ? tool : Find(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {tool}");
        p.StandardInput.Close();
        started?.Invoke(p);
        var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            if (ct.IsCancellationRequested) throw;
            throw new TimeoutException($"{tool} {string.Join(' ', psi.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s\n{await stdout}{await stderr}");
        }
        return new ToolResult(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a tool and fails (with its output) unless it exits 0.</summary>
    public static async Task<ToolResult> RunOkAsync(string tool, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct = default)
    {
        var r = await RunAsync(tool, args, timeout, ct);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {r.ExitCode}:\n{r.Output}");
        return r;
    }

    /// <summary>fio's nbd engine: random 64 KiB writes, verified with crc32c after the write phase.</summary>
    public static string[] FioRandWrite(string uri, string name, int sizeMb, int ioMb, string? rate = null)
    {
        var args = new List<string>
        {
            $"--name={name}", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bs=64k", "--iodepth=8",
            $"--size={sizeMb}M", $"--io_size={ioMb}M", "--verify=crc32c", "--do_verify=1", "--randrepeat=0",
            "--output-format=terse",
        };
        if (rate is not null) args.Add($"--rate={rate}");
        return args.ToArray();
    }
}

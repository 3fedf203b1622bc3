using System.Diagnostics;
using System.Security.Cryptography;

namespace SiteRecovery.Tests.Support;

/// <summary>Runs the real clients (qemu-io, fio, nbdcopy) the tests drive the agent with.</summary>
public static class Tools
{
    public static async Task<string> RunAsync(string tool, string arguments, TimeSpan? timeout = null)
    {
        var path = Find(tool);
        var psi = new ProcessStartInfo(path, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {arguments} did not finish within {(timeout ?? TimeSpan.FromMinutes(2)).TotalSeconds} s");
        }
        var output = await stdout + await stderr;
        if (p.ExitCode != 0) throw new InvalidOperationException($"{tool} {arguments} exited {p.ExitCode}: {output}");
        return output;
    }

    public static string Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/usr/bin"))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException($"{tool} is not installed; tests/setup.sh installs it");
    }

    public static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    public static string TempDirectory(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "sr-tests", $"{name}-{Guid.NewGuid():n}"[..(name.Length + 9)]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

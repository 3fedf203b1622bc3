using System.Diagnostics;
using System.Text;

namespace SiteRecovery.Capture.Tests;

/// <summary>Runs an installed command-line tool with a timeout; a missing tool fails the test (never skips).</summary>
internal static class ExternalTool
{
    private static readonly Dictionary<string, string> Packages = new()
    {
        ["qemu-io"] = "qemu-utils",
        ["nbdcopy"] = "libnbd-bin",
        ["nbdinfo"] = "libnbd-bin",
        ["fio"] = "fio",
    };

    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        Assert.Fail($"Required tool '{tool}' was not found on PATH. tests/setup.sh installs it "
                    + $"(Debian package {Packages.GetValueOrDefault(tool, "?")}: apt-get install {Packages.GetValueOrDefault(tool, tool)}).");
        return "";
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, TimeSpan timeout, params string[] args)
    {
        var path = Require(tool);
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {tool}");
        var output = new StringBuilder();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync();
            Assert.Fail($"{tool} {string.Join(' ', args)} timed out after {timeout}:\n{await stdout}\n{await stderr}");
        }
        output.Append(await stdout).Append(await stderr);
        return (p.ExitCode, output.ToString());
    }

    public static async Task<string> RunOkAsync(string tool, TimeSpan timeout, params string[] args)
    {
        var (code, output) = await RunAsync(tool, timeout, args);
        Assert.True(code == 0, $"{tool} {string.Join(' ', args)} exited with {code}:\n{output}");
        return output;
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Ctl.Commands;

/// <summary>Starts the project's own executables (srnode, sragent) as child processes, logs to files.</summary>
public sealed class SiteProcesses(string workDir) : IAsyncDisposable
{
    readonly List<Process> _children = [];

    /// <summary>The repository root: the folder holding SiteRecovery.sln above this executable.</summary>
    public static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SiteRecovery.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find SiteRecovery.sln above " + AppContext.BaseDirectory);
    }

    public static string HostDll(string repoRoot, string project, string assembly, string configuration)
    {
        var path = Path.Combine(repoRoot, "src", "Hosts", project, "bin", configuration, "net10.0", assembly + ".dll");
        if (!File.Exists(path)) throw new FileNotFoundException($"{assembly} is not built ({path}); run: dotnet build -c {configuration}", path);
        return path;
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public Process Start(string name, string dll, string arguments, Action<string>? onLine = null)
    {
        var log = Path.Combine(workDir, name + ".log");
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {name}");
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is null) return; lock (writer) writer.WriteLine(e.Data); onLine?.Invoke(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is null) return; lock (writer) writer.WriteLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _children.Add(p);
        return p;
    }

    /// <summary>Asks a child to stop (SIGTERM) and waits; kills it if it does not stop in time.</summary>
    public static async Task StopAsync(Process p, TimeSpan timeout)
    {
        if (p.HasExited) return;
        await ExternalTool.RunAsync("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        using var cts = new CancellationTokenSource(timeout);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { p.Kill(entireProcessTree: true); }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in Enumerable.Reverse(_children)) await StopAsync(p, TimeSpan.FromSeconds(25));
    }

    /// <summary>Runs a tool to its end within <paramref name="timeout"/>; <paramref name="ct"/> stops it early (a background load that is no longer needed).</summary>
    public static async Task<string> RunToolAsync(string tool, string arguments, TimeSpan timeout, CancellationToken ct = default) =>
        (await ExternalTool.RunOkAsync(tool, arguments, timeout, ct)).Output;
}

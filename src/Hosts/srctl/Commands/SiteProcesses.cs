using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Ctl.Commands;

/// <summary>Starts the project's own executables (srnode, sragent) as child processes, logs to files.</summary>
public sealed class SiteProcesses(string workDir) : IAsyncDisposable
{
    readonly List<ChildProcess> _children = [];

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

    /// <summary>Starts <c>dotnet <paramref name="dll"/> <paramref name="arguments"/></c>, logged to <c>name.log</c> in the work folder; stopped when the site is disposed.</summary>
    public ChildProcess Start(string name, string dll, string arguments, Action<string>? onLine = null)
    {
        var child = ChildProcess.StartCommandLine(name, "dotnet", $"\"{dll}\" {arguments}", workDir, onLine);
        _children.Add(child);
        return child;
    }

    /// <summary>Stops the children in the reverse of their start order (the agent before the node it replicates to).</summary>
    /// <summary>Stops every process started, the last first; a second call finds nothing left to stop.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var child in Enumerable.Reverse(_children))
        {
            await child.StopAsync(TimeSpan.FromSeconds(25));
            await child.DisposeAsync();
        }
        _children.Clear();
    }

    /// <summary>Runs a tool to its end within <paramref name="timeout"/>; <paramref name="ct"/> stops it early (a background load that is no longer needed).</summary>
    public static async Task<string> RunToolAsync(string tool, string arguments, TimeSpan timeout, CancellationToken ct = default) =>
        (await ExternalTool.RunOkAsync(tool, arguments, timeout, ct)).Output;
}

using System.Text.Json.Nodes;
using SiteRecovery.Compute.Local;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// The processes a failover job leaves running on purpose (its machines' qemu, the agents in front of them), found by
/// their command lines, and what a test does to them and to a node: a crash, a write from inside the machine.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class JobProcesses
{
    public static string[]? CommandLine(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/cmdline");
            return text.Length == 0 ? null : text.TrimEnd('\0').Split('\0');
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Whether <paramref name="pid"/> runs with <paramref name="text"/> in its command line (arguments joined by NUL).</summary>
    public static bool Runs(int pid, string text)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains(text, StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    static IEnumerable<(int Pid, string[] Args)> Processes() =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0)
            .Select(pid => (pid, CommandLine(pid)))
            .Where(p => p.Item2 is not null)
            .Select(p => (p.pid, p.Item2!));

    /// <summary>Every agent serving from <paramref name="folder"/> (its state directory), whoever started it.</summary>
    public static List<int> AgentsOf(string folder) => Processes()
        .Where(p => p.Args.Zip(p.Args.Skip(1)).Any(a => a.First == "--state-dir" && a.Second == folder))
        .Select(p => p.Pid).ToList();

    /// <summary>Every qemu of <paramref name="job"/> (its work folder, hence the job id, is in its command line).</summary>
    public static List<int> QemusOf(string job) => Processes()
        .Where(p => p.Args[0].Contains("qemu-system", StringComparison.Ordinal) && p.Args.Any(a => a.Contains(job, StringComparison.Ordinal)))
        .Select(p => p.Pid).ToList();

    /// <summary>Kills each of <paramref name="pids"/> that still runs with <paramref name="text"/> in its command line (a pid reused since is left alone).</summary>
    public static void KillEach(IEnumerable<int> pids, string text)
    {
        foreach (var pid in pids)
            if (Runs(pid, text))
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
    }

    /// <summary>Kills every process with <paramref name="text"/> (a job id, a test's folder) in its command line.</summary>
    public static void KillAllOf(string text) => KillEach(Processes().Select(p => p.Pid).Where(pid => pid != Environment.ProcessId), text);

    /// <summary>SIGKILL of the node's own process only: what it started itself outlives it, as after a real crash.</summary>
    public static async Task CrashAsync(Node node)
    {
        var process = node.Process!;
        System.Diagnostics.Process.GetProcessById(process.Pid).Kill(entireProcessTree: false);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!process.HasExited)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"node {node.Id} (pid {process.Pid}) still runs 10 s after SIGKILL");
            await Task.Delay(20);
        }
    }

    static string ControlSocket(string consolePath) => Path.Combine(Path.GetDirectoryName(consolePath)!, QemuCommandLine.ControlSocketName);

    /// <summary>
    /// The running machine writes 1 MiB of <paramref name="fill"/> at block <paramref name="index"/> of its drive
    /// <paramref name="drive"/> through its own block layer (qemu-io in its monitor, the path a guest's writes take).
    /// </summary>
    public static async Task MachineWritesAsync(string consolePath, string drive, int index, byte fill)
    {
        const int block = FailedOverMachine.Block;
        await using var qmp = await QmpClient.ConnectAsync(ControlSocket(consolePath), CancellationToken.None);
        await qmp.ExecuteAsync("human-monitor-command",
            new JsonObject { ["command-line"] = $"qemu-io {drive} \"write -P {fill} {(long)index * block} {block}\"" }, CancellationToken.None);
    }

    /// <summary>Each drive's file as the running qemu names it (query-block).</summary>
    public static async Task<Dictionary<string, string>> DriveFilesAsync(string consolePath)
    {
        await using var qmp = await QmpClient.ConnectAsync(ControlSocket(consolePath), CancellationToken.None);
        return ((JsonArray)(await qmp.ExecuteAsync("query-block", null, CancellationToken.None))!).OfType<JsonObject>()
            .Where(d => d["device"]!.GetValue<string>().StartsWith("disk", StringComparison.Ordinal))
            .ToDictionary(d => d["device"]!.GetValue<string>(), d => d["inserted"]?["file"]?.GetValue<string>() ?? "(none)");
    }

    /// <summary>Writes block <paramref name="index"/> (1 MiB) of an image file with <paramref name="fill"/>, durably (what a machine wrote).</summary>
    public static async Task WriteBlockAsync(string path, int index, byte fill)
    {
        const int block = FailedOverMachine.Block;
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        f.Position = (long)index * block;
        await f.WriteAsync(Enumerable.Repeat(fill, block).ToArray());
        f.Flush(flushToDisk: true);
    }
}

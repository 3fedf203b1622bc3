using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Tests;

/// <summary>Machines of the tiny test guest (its image: <see cref="TinyGuestImage"/>) and the process checks their tests share.</summary>
static class TinyGuest
{
    public const long ImageBytes = 64L << 20;
    // A boot takes ~8-12 s alone under TCG and ~40 s with three in parallel on a loaded 2-core host (load 22 measured).
    public static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(90);

    /// <summary>A one-CPU spec (boots run in parallel on a small host) in its own work folder under <paramref name="root"/>.</summary>
    public static MachineSpec Spec(string root, string name) =>
        new($"machine-{name}", name, 256, 1, "bios", NetworkMode.Isolated, null, Path.Combine(root, name));

    /// <summary>True while <paramref name="pid"/> exists and is not a zombie.</summary>
    public static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException) { return false; }
    }

    /// <summary>The session id of <paramref name="pid"/> (field 6 of /proc/PID/stat).</summary>
    public static int SessionOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[3]);
    }

    /// <summary>A loopback TCP port nothing listens on (at the moment of asking).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>
/// A copy of a disk image served by nbdkit's file plugin on a free loopback port (nbd://127.0.0.1:PORT/NAME), or a
/// blank memory disk. nbdkit runs as a daemon of its own (no <c>--foreground</c>), found by its pidfile and killed on
/// dispose: a foreground child died under running tests when the thread that had started it exited (see
/// <see cref="ForkingThread"/>); a daemon is a fork of nbdkit and owes nothing to our threads.
/// </summary>
sealed class NbdExport : IAsyncDisposable
{
    readonly int _pid;
    readonly string _dir;

    NbdExport(int pid, string dir, int port, string name)
    {
        _pid = pid;
        _dir = dir;
        Port = port;
        Uri = $"nbd://127.0.0.1:{port}/{name}";
    }

    public int Port { get; }
    public string Uri { get; }

    /// <summary>Serves a private copy of <paramref name="image"/>.</summary>
    public static async Task<NbdExport> CopyOfAsync(string image, string name)
    {
        var dir = Directory.CreateTempSubdirectory("sr-nbd-").FullName;
        var copy = Path.Combine(dir, "disk.img");
        File.Copy(image, copy);
        return await ServeAsync(dir, name, ["file", copy]);
    }

    /// <summary>
    /// Serves <paramref name="file"/> itself, not a copy, and logs every request nbdkit gets to <paramref name="requestLog"/>
    /// (its log filter: one line per request, <c>Write id=N offset=0x… count=0x…</c>).
    /// </summary>
    public static Task<NbdExport> InPlaceAsync(string file, string name, string requestLog) =>
        ServeAsync(Directory.CreateTempSubdirectory("sr-nbd-").FullName, name, ["--filter=log", "file", file, $"logfile={requestLog}"]);

    /// <summary>Serves a blank disk of <paramref name="bytes"/> held in nbdkit's memory.</summary>
    public static Task<NbdExport> BlankAsync(long bytes, string name) =>
        ServeAsync(Directory.CreateTempSubdirectory("sr-nbd-").FullName, name, ["memory", bytes.ToString()]);

    static async Task<NbdExport> ServeAsync(string dir, string name, string[] plugin)
    {
        var nbdkit = BoundedProcess.FindCommand("nbdkit") ?? throw new InvalidOperationException("nbdkit is not installed: run tests/setup.sh");
        var pidFile = Path.Combine(dir, "nbdkit.pid");
        int port;
        ProcessRun run;
        // A port found free can be taken by another process before nbdkit binds it (tests run in parallel, with other
        // suites on the machine): that, and only that, is tried again on another port.
        for (var attempt = 1; ; attempt++)
        {
            port = TinyGuest.FreePort();
            // nbdkit forks its daemon and the parent exits; the daemon writes the pidfile once it listens.
            run = await ForkingThread.RunAsync(nbdkit, ["--ipaddr", "127.0.0.1", "--port", port.ToString(), "--pidfile", pidFile, .. plugin], dir, TimeSpan.FromSeconds(30), CancellationToken.None);
            if (run.ExitCode == 0 || attempt == 5 || !run.StdErr.Contains("Address already in use", StringComparison.Ordinal)) break;
        }
        var clock = Stopwatch.StartNew();
        while (run.ExitCode == 0 && !(File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n')) && clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20);
        if (run.ExitCode != 0 || !File.Exists(pidFile))
            throw new InvalidOperationException($"nbdkit on port {port} exited {run.ExitCode?.ToString() ?? "(killed)"} and wrote no pidfile: {BoundedProcess.Quote(run, 1000)} (folder {dir} kept)");
        return new NbdExport(int.Parse(File.ReadAllText(pidFile).Trim()), dir, port, name);
    }

    /// <summary>Writes the guest payload area for <paramref name="data"/> through NBD, as the quickstart does (qemu-io).</summary>
    public async Task WritePayloadAsync(byte[] data)
    {
        var (offset, bytes) = GuestPayload.Area(data);
        var file = Path.Combine(_dir, "payload.bin");
        await File.WriteAllBytesAsync(file, bytes);
        await QemuIoAsync($"write -s {file} {offset} {bytes.Length}");
    }

    /// <summary>Writes one byte through NBD.</summary>
    public Task WriteByteAsync(long offset, byte value) => QemuIoAsync($"write -P {value} {offset} 1");

    async Task QemuIoAsync(string command)
    {
        var qemuIo = BoundedProcess.FindCommand("qemu-io") ?? throw new InvalidOperationException("qemu-io is not installed: run tests/setup.sh");
        var run = await BoundedProcess.RunAsync(qemuIo, ["-f", "raw", "-c", command, Uri], null, TimeSpan.FromSeconds(30), CancellationToken.None);
        if (run.ExitCode != 0 || run.StdErr.Length > 0 || !run.StdOut.Contains("wrote", StringComparison.Ordinal))
            throw new InvalidOperationException($"qemu-io '{command}' on {Uri}: exit {run.ExitCode}: {BoundedProcess.Quote(run)}");
    }

    public async ValueTask DisposeAsync()
    {
        // Our daemon only: its command line names this export's folder (a recycled pid would not).
        if (File.Exists($"/proc/{_pid}/cmdline") && File.ReadAllText($"/proc/{_pid}/cmdline").Contains(_dir, StringComparison.Ordinal))
        {
            using (var server = Process.GetProcessById(_pid)) server.Kill();
            var clock = Stopwatch.StartNew();
            while (TinyGuest.ProcessAlive(_pid) && clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(20);
        }
        Directory.Delete(_dir, recursive: true);
    }
}

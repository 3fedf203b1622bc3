using SiteRecovery.Contracts.Processes;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// A fresh directory under the system temp folder, deleted on dispose — after <c>tests/secret-scan.sh</c> found no
/// secret of its keystores (tokens, keys) in any other file of it: every process-level test is also a secret scan of
/// the logs, journals and files its site wrote. A finding fails the test and keeps the directory for a look.
/// </summary>
public sealed partial class TempDir : IDisposable
{
    public TempDir(string name)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sr-chaos", $"{name}-{Guid.NewGuid():n}"[..(name.Length + 9)]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        StopLeftovers();
        if (Directory.Exists(Path))
        {
            var scan = ExternalTool.RunAsync("bash", [System.IO.Path.Combine(Repo.Root, "tests", "secret-scan.sh"), Path], TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
            if (scan.ExitCode != 0) throw new InvalidOperationException($"secret scan of {Path} (kept): {scan.Output}");
        }
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try { if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true); return; }
            catch (IOException) { Thread.Sleep(200); }
            catch (UnauthorizedAccessException) { Thread.Sleep(200); }
        }
    }
}

public sealed partial class TempDir
{
    /// <summary>
    /// Kills what a test started under this directory and left running: a committed failover's machines and the agents
    /// its commit put in front of them are detached on purpose (they outlive the node, as in production), so a test that
    /// ends without a failback leaves them. They are found by this directory's path, unique to the test, in their command
    /// line; nothing else on the machine is touched.
    /// </summary>
    void StopLeftovers()
    {
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(System.IO.Path.GetFileName(proc), out var pid) || pid == Environment.ProcessId) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(System.IO.Path.Combine(proc, "cmdline")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (!cmdline.Contains(Path + "/", StringComparison.Ordinal)) continue;
            try
            {
                using var left = System.Diagnostics.Process.GetProcessById(pid);
                left.Kill();
                left.WaitForExit(5000);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
    }
}

public static class Net
{
    static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A port the kernel just handed out for a bind to port 0 (released at once), never one this test process was given
    /// before: released at once, the same port can come back from the next bind, and a site's listeners collided so.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)s.LocalEndPoint!).Port;
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
    }
}

public static class Files
{
    public static string Sha256(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>A sparse file of <paramref name="size"/> bytes, with some data at a few places when <paramref name="seed"/> is given.</summary>
    public static void CreateDisk(string path, long size, int? seed = null)
    {
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(size);
        if (seed is not { } s) return;
        var rng = new Random(s);
        var block = new byte[1 << 20];
        for (var i = 0; i < 4; i++)
        {
            rng.NextBytes(block);
            f.Position = i * (size / 4);
            f.Write(block);
        }
    }

    /// <summary>True when <paramref name="needle"/> occurs in any file under <paramref name="dir"/>.</summary>
    public static bool AnyFileContains(string dir, byte[] needle)
    {
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            byte[] content;
            try { content = File.ReadAllBytes(file); }
            catch (IOException) { continue; }
            if (content.AsSpan().IndexOf(needle) >= 0) return true;
        }
        return false;
    }
}

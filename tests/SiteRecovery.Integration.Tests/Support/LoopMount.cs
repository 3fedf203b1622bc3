using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Tests.Support;

/// <summary>
/// A small real ext4 filesystem for storage-fault tests: an image file made with truncate and mkfs.ext4 (no blocks
/// reserved for root, so a full filesystem refuses root's writes too), mounted through a loop device. A filler file
/// takes all but a few MiB, so a workload runs into ENOSPC; deleting it gives the space back.
/// </summary>
public sealed class LoopMount : IAsyncDisposable
{
    public string Path { get; }
    readonly string _image;
    string? _filler;

    LoopMount(string image, string path)
    {
        _image = image;
        Path = path;
    }

    /// <summary>Null with <paramref name="refusal"/> set when this environment cannot mount a loop device (then the test is skipped, saying so).</summary>
    public static async Task<(LoopMount? Mount, string Refusal)> TryCreateAsync(string directory, long sizeBytes)
    {
        Directory.CreateDirectory(directory);
        var image = System.IO.Path.Combine(directory, "fs.img");
        var mount = System.IO.Path.Combine(directory, "mnt");
        Directory.CreateDirectory(mount);
        var made = await RunAsync("truncate", "-s", sizeBytes.ToString(), image);
        if (made.Exit != 0) return (null, $"truncate failed: {made.Output}");
        var mkfs = await RunAsync("mkfs.ext4", "-q", "-F", "-m", "0", image);
        if (mkfs.Exit != 0) return (null, $"mkfs.ext4 failed: {mkfs.Output}");
        var mounted = await RunAsync("mount", "-o", "loop", image, mount);
        if (mounted.Exit != 0) return (null, $"this environment cannot mount a loop device: {mounted.Output}");
        return (new LoopMount(image, mount), "");
    }

    public long FreeBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Allocates a filler file so that only about <paramref name="leaveFreeBytes"/> stay free.</summary>
    public void FillLeaving(long leaveFreeBytes)
    {
        _filler = System.IO.Path.Combine(Path, "filler");
        var size = Math.Max(0, FreeBytes - leaveFreeBytes);
        using var f = new FileStream(_filler, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, PreallocationSize = size });
        f.SetLength(size);
        f.Flush(flushToDisk: true);
    }

    /// <summary>Deletes the filler: the space is back.</summary>
    public void Free()
    {
        if (_filler is not null) File.Delete(_filler);
    }

    public async ValueTask DisposeAsync()
    {
        if ((await RunAsync("umount", Path)).Exit != 0) await RunAsync("umount", "-l", Path);
        try { File.Delete(_image); } catch (IOException) { }
    }

    /// <summary>Never throws: a tool that is missing or cannot run is a refusal the caller reports (and the test is skipped).</summary>
    static async Task<(int Exit, string Output)> RunAsync(string file, params string[] args)
    {
        try
        {
            var run = await ExternalTool.RunAsync(file, args, TimeSpan.FromMinutes(2));
            return (run.ExitCode ?? -1, run.Output.Trim());
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException) { return (-1, $"{file}: {e.Message}"); }
    }
}

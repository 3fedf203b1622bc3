using System.Runtime.InteropServices;

namespace SiteRecovery.Node.Api;

/// <summary>
/// Where POST /api/recover may write: a new file inside the node's recovery directory (<c>--recovery-dir</c>), reached
/// without a symlink. The API takes no credentials yet, and the node may run as root, so without this any caller could
/// create a file anywhere on the machine.
/// </summary>
/// <remarks>
/// The directories from the recovery directory down to the output are opened one by one with O_NOFOLLOW, and the image
/// is written through <c>/proc/self/fd/N/name</c> of the last one: a directory swapped for a symlink after the checks
/// cannot redirect the write, because the kernel resolves that name to the directory already opened. The image and its
/// <c>.partial</c> are created with O_EXCL (<see cref="SiteRecovery.Contracts.Storage.PrivateFiles"/>), which refuses any
/// existing name, a symlink planted there included.
/// </remarks>
public sealed class RecoveryOutput : IDisposable
{
    // O_DIRECTORY and O_NOFOLLOW differ between the x86 and the Arm ABIs of Linux.
    static readonly bool Arm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    static readonly int ODirectory = Arm ? 0x4000 : 0x10000, ONoFollow = Arm ? 0x8000 : 0x20000;
    const int OCloexec = 0x80000;
    const int ENoEnt = 2, ENotDir = 20, ELoop = 40;
    int _directory;

    RecoveryOutput(string path, string writePath, int directory)
    {
        Path = path;
        WritePath = writePath;
        _directory = directory;
    }

    /// <summary>The output as the operator names it (inside the recovery directory).</summary>
    public string Path { get; }
    /// <summary>The same file reached through the directory opened at the claim: what the image is written to.</summary>
    public string WritePath { get; }

    /// <summary>
    /// Checks <paramref name="output"/> (relative: under <paramref name="recoveryDirectory"/>; absolute: must be inside it)
    /// and holds its directory open; null with <paramref name="refusal"/> naming the problem when it may not be written.
    /// Nothing is created here.
    /// </summary>
    public static RecoveryOutput? Claim(string recoveryDirectory, string? output, out string? refusal)
    {
        refusal = Problem(recoveryDirectory, output, out var full, out var parts);
        if (refusal is not null) return null;
        var name = parts[^1];
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self/fd"))
        {
            // Without /proc the directories are checked by name only: a swap after the check is not caught.
            var walkedByName = recoveryDirectory;
            foreach (var part in parts[..^1])
            {
                walkedByName = System.IO.Path.Combine(walkedByName, part);
                if (new DirectoryInfo(walkedByName).LinkTarget is not null) { refusal = $"output: '{walkedByName}' is a symlink; a recovery output is never written through one"; return null; }
                if (!Directory.Exists(walkedByName)) { refusal = $"output: directory '{walkedByName}' does not exist in the recovery directory '{recoveryDirectory}'"; return null; }
            }
            refusal = Occupied(System.IO.Path.GetDirectoryName(full)!, name, full);
            return refusal is null ? new RecoveryOutput(full, full, -1) : null;
        }
        var dir = open(recoveryDirectory, ODirectory | OCloexec);
        if (dir < 0)
        {
            refusal = $"output: the recovery directory '{recoveryDirectory}' cannot be opened (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }
        var walked = recoveryDirectory;
        foreach (var part in parts[..^1])
        {
            walked = System.IO.Path.Combine(walked, part);
            var next = open($"/proc/self/fd/{dir}/{part}", ODirectory | ONoFollow | OCloexec);
            var errno = Marshal.GetLastPInvokeError();
            _ = close(dir);
            dir = next;
            if (dir >= 0) continue;
            refusal = errno switch
            {
                // With O_DIRECTORY the kernel may answer a symlink with ENOTDIR before ELOOP.
                ELoop => $"output: '{walked}' is a symlink; a recovery output is never written through one",
                ENotDir when new FileInfo(walked).LinkTarget is not null => $"output: '{walked}' is a symlink; a recovery output is never written through one",
                ENoEnt => $"output: directory '{walked}' does not exist in the recovery directory '{recoveryDirectory}'",
                ENotDir => $"output: '{walked}' is not a directory",
                _ => $"output: '{walked}' cannot be opened (errno {errno})",
            };
            return null;
        }
        var through = $"/proc/self/fd/{dir}";
        refusal = Occupied(through, name, full);
        if (refusal is null) return new RecoveryOutput(full, $"{through}/{name}", dir);
        _ = close(dir);
        return null;
    }

    /// <summary>Refuses what no file system call is needed for: no name, a "..", a path outside the recovery directory.</summary>
    static string? Problem(string recoveryDirectory, string? output, out string full, out string[] parts)
    {
        full = "";
        parts = [];
        if (string.IsNullOrWhiteSpace(output)) return $"output: a file name is required (it is written in the recovery directory '{recoveryDirectory}')";
        if (output.Contains('\0')) return "output: contains a NUL character";
        if (output.Split('/').Contains("..")) return $"output: '{output}' contains '..'; name a file in the recovery directory '{recoveryDirectory}'";
        full = System.IO.Path.GetFullPath(System.IO.Path.IsPathRooted(output) ? output : System.IO.Path.Combine(recoveryDirectory, output));
        var inside = recoveryDirectory.EndsWith('/') ? recoveryDirectory : recoveryDirectory + "/";
        if (System.IO.Path.TrimEndingDirectorySeparator(full) == recoveryDirectory) return $"output: '{output}' names the recovery directory itself, not a file in it";
        if (!full.StartsWith(inside, StringComparison.Ordinal))
            return $"output: '{full}' is outside the recovery directory '{recoveryDirectory}' (--recovery-dir); images are written only there";
        if (output.EndsWith('/')) return $"output: '{output}' names a directory, not a file";
        parts = System.IO.Path.GetRelativePath(recoveryDirectory, full).Split('/');
        return null;
    }

    /// <summary>The output or its temporary name already taken, by anything: a file, a directory, a symlink (even dangling).</summary>
    static string? Occupied(string directory, string name, string full)
    {
        foreach (var (candidate, shown) in new[] { (name, full), (name + ".partial", full + ".partial") })
        {
            var p = System.IO.Path.Combine(directory, candidate);
            var info = new FileInfo(p);
            if (info.LinkTarget is not null) return $"output: '{shown}' is a symlink; a recovery output is never written through one";
            if (info.Exists || Directory.Exists(p)) return $"output: '{shown}' already exists; recovery never overwrites a file";
        }
        return null;
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _directory, -1);
        if (fd >= 0) _ = close(fd);
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    static extern int close(int fd);
}

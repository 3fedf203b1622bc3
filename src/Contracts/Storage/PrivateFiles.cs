namespace SiteRecovery.Contracts.Storage;

/// <summary>
/// Files and directories only this user may read: replicas, spools, journals, base images, overlays and recovered images
/// hold a protected machine's disk, so they are created 0600 (directories 0700) rather than with the process umask. The
/// mode is given to open(2) itself, so no other user can open the file in the moment between creating and tightening it.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> and any missing parents 0700; directories that exist keep their mode.</summary>
    public static DirectoryInfo CreateDirectory(string path) =>
        OperatingSystem.IsWindows() ? Directory.CreateDirectory(path) : Directory.CreateDirectory(path, DirectoryMode);

    /// <summary>
    /// Opens <paramref name="path"/> unbuffered with <paramref name="mode"/> (one that may create), a new file getting mode
    /// 0600. With <see cref="FileMode.CreateNew"/> the name must not exist at all: O_EXCL refuses a symlink there, dangling
    /// or not, instead of following it. Use <see cref="FileStream.SafeFileHandle"/> for positional I/O while the stream lives.
    /// </summary>
    public static FileStream Open(string path, FileMode mode, FileAccess access = FileAccess.ReadWrite, FileShare share = FileShare.None)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share, BufferSize = 0 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = Mode;
        return new FileStream(path, options);
    }

    /// <summary>Creates <paramref name="path"/> empty and 0600; <see cref="IOException"/> when the name exists (see <see cref="Open"/>).</summary>
    public static void CreateNew(string path)
    {
        using var _ = Open(path, FileMode.CreateNew, FileAccess.Write);
    }

    /// <summary>Creates <paramref name="path"/> empty and 0600 unless it exists; an existing file keeps its mode and content.</summary>
    public static void CreateIfMissing(string path)
    {
        using var _ = Open(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite);
    }

    /// <summary>
    /// Replaces (or, with <paramref name="overwrite"/> false, creates) <paramref name="path"/> with <paramref name="bytes"/>,
    /// 0600 from the first byte: a temp file made with O_EXCL, fsynced, renamed over the name, the directory fsynced. After
    /// a crash the name holds its old content or the new, never a mix and never a moment readable by others. Keys and
    /// tokens go through here, so there is one way a secret reaches the disk.
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes, bool overwrite = true)
    {
        var temp = path + ".new";
        File.Delete(temp);
        using (var f = Open(temp, FileMode.CreateNew, FileAccess.Write))
        {
            f.Write(bytes);
            f.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite);
        DirectorySync.Flush(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// Whether users other than the owner may read or write <paramref name="path"/> (its group or other bits): a private
    /// key or secret given that way is refused, since anyone who could read it already holds it. Always false on Windows.
    /// </summary>
    public static bool OpenToOthers(string path) =>
        !OperatingSystem.IsWindows()
        && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0;
}

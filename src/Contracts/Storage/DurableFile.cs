namespace SiteRecovery.Contracts.Storage;

/// <summary>Small metadata files replaced atomically: temp file, fsync, rename, directory fsync.</summary>
public static class DurableFile
{
    public const string TempSuffix = ".tmp";

    /// <summary>
    /// After a crash <paramref name="path"/> holds either its old content or <paramref name="bytes"/>, never a mix.
    /// <paramref name="hook"/> is called with "{what}.temp-written" and "{what}.renamed" (crash tests stop there).
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes, Action<string>? hook, string what)
    {
        var temp = path + TempSuffix;
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }
        hook?.Invoke($"{what}.temp-written");
        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
        hook?.Invoke($"{what}.renamed");
    }
}

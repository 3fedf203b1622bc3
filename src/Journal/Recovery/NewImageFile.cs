using Microsoft.Win32.SafeHandles;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Recovery;

/// <summary>
/// How every recovered image comes to be, so the output either does not exist or is complete: written under
/// <c>NAME.partial</c> (created exclusively and 0600: a name already there, a planted symlink included, is refused, never
/// followed), sized as a hole, filled, fsync'd, renamed into place; on any failure the partial file is removed.
/// </summary>
static class NewImageFile
{
    /// <param name="replace">Whether the rename may replace an existing <paramref name="outputPath"/>.</param>
    /// <param name="syncDirectory">Whether the rename is made durable too (not for a scratch image deleted after use).</param>
    public static async Task WriteAsync(string outputPath, long size, Func<SafeFileHandle, Task> fill, bool replace, bool syncDirectory)
    {
        var temp = outputPath + ".partial";
        try
        {
            using (var file = PrivateFiles.Open(temp, FileMode.CreateNew))
            {
                var handle = file.SafeFileHandle;
                RandomAccess.SetLength(handle, size); // a hole: only what is filled gets blocks
                await fill(handle).ConfigureAwait(false);
                RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, outputPath, overwrite: replace);
            if (syncDirectory) DirectorySync.Flush(Path.GetDirectoryName(outputPath)!);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}

using System.Security.Cryptography;

namespace SiteRecovery.Journal.Recovery;

/// <summary>Hashes of disk images, used to prove a materialized image equals another copy.</summary>
public static class ImageHashing
{
    /// <summary>Lowercase hex SHA-256 of a file's whole content, streamed with a large buffer.</summary>
    public static async Task<string> Sha256OfFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.SequentialScan | FileOptions.Asynchronous);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash);
    }
}

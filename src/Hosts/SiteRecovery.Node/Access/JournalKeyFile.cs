using System.Security.Cryptography;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Node.Access;

/// <summary>
/// The key that seals secrets on their way into the journal (<see cref="JournalSeal"/>): 32 random bytes in
/// <c>&lt;data&gt;/keys/journal.key</c> (0600), or the file <c>--journal-key-file</c> names (nodes that share one journal,
/// such as a PostgreSQL one, must share this key too). Made on the first start. Back it up with the journal, apart from
/// it: without the key the vaults' signing secrets do not open and no registration key can be checked.
/// </summary>
public static class JournalKeyFile
{
    public const string Flag = "--journal-key-file";

    public static string DefaultPath(string dataDirectory) => Path.Combine(dataDirectory, "keys", "journal.key");

    /// <summary>Reads the key, making it first when the file does not exist; configures <see cref="JournalSeal"/> with it.</summary>
    public static void Use(string path)
    {
        var full = Path.GetFullPath(path);
        try { Load(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{Flag} '{full}' cannot be made or read: {e.Message}");
        }
    }

    static void Load(string full)
    {
        if (!File.Exists(full))
        {
            PrivateFiles.CreateDirectory(Path.GetDirectoryName(full)!);
            PrivateFiles.WriteAtomically(full, RandomNumberGenerator.GetBytes(JournalSeal.KeyBytes), overwrite: false);
        }
        if (PrivateFiles.OpenToOthers(full))
            throw new ArgumentException($"{Flag} '{full}' may be read or written by other users; it seals the journal's secrets: chmod 600 it");
        var key = File.ReadAllBytes(full);
        if (key.Length != JournalSeal.KeyBytes)
            throw new ArgumentException($"{Flag} '{full}' holds {key.Length} bytes, not the {JournalSeal.KeyBytes} of a journal key");
        JournalSeal.Configure(key);
    }
}

using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Node.Access;

/// <summary>
/// A copy of the site's authority that can be kept off the node: one PEM file holding the authority's key as encrypted
/// PKCS#8 (AES-256-CBC, PBKDF2-SHA256, the key derived from a passphrase read from a file) and its certificate. Written
/// 0600 and never over an existing file; restored only into a data directory that holds no authority, since a second
/// authority would orphan every certificate the first issued. The clear key never leaves <c>keys/site-ca.key</c>.
/// </summary>
public static class SiteAuthorityBackup
{
    /// <summary>PBKDF2 rounds of the backup's key: a backup sits off the node for years, so it is costly to guess at.</summary>
    const int Iterations = 600_000;
    /// <summary>Shortest passphrase accepted: the backup is only as strong as it.</summary>
    public const int MinPassphraseLength = 12;

    const string EncryptedKeyLabel = "ENCRYPTED PRIVATE KEY";
    const string CertificateLabel = "CERTIFICATE";

    /// <summary>Writes the authority in <paramref name="keysDirectory"/> to <paramref name="output"/>, encrypted with <paramref name="passphrase"/>.</summary>
    public static void Backup(string keysDirectory, string output, string passphrase)
    {
        CheckPassphrase(passphrase);
        if (!File.Exists(SiteAuthority.CertificatePath(keysDirectory)) && !File.Exists(SiteAuthority.KeyPath(keysDirectory)))
            throw new InvalidOperationException($"there is no site authority in '{keysDirectory}' (it is made by a node with the configuration role)");
        if (File.Exists(output) || Directory.Exists(output)) throw new InvalidOperationException($"--output '{output}' exists; a backup is never written over a file");
        using var authority = SiteAuthority.OpenOrCreate(keysDirectory, DateTimeOffset.UtcNow);
        var pem = authority.ExportEncrypted(passphrase, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, Iterations))
                  + "\n" + authority.CertificatePem + "\n";
        PrivateFiles.WriteAtomically(output, Encoding.ASCII.GetBytes(pem), overwrite: false);
    }

    /// <summary>Restores the authority in <paramref name="input"/> into <paramref name="keysDirectory"/>; returns its certificate's SHA-256.</summary>
    public static string Restore(string keysDirectory, string input, string passphrase)
    {
        var keyPath = SiteAuthority.KeyPath(keysDirectory);
        var certPath = SiteAuthority.CertificatePath(keysDirectory);
        if (File.Exists(keyPath) || File.Exists(certPath))
            throw new InvalidOperationException($"'{keysDirectory}' already holds a site authority ('{(File.Exists(keyPath) ? keyPath : certPath)}'); restore only into a data directory without one");
        string text;
        try { text = File.ReadAllText(input); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidOperationException($"--input '{input}' cannot be read: {e.Message}"); }
        if (!PemEncoding.TryFind(text, out var keyFields) || text[keyFields.Label] != EncryptedKeyLabel)
            throw new InvalidOperationException($"--input '{input}' holds no {EncryptedKeyLabel} block first (is it a site authority backup?)");
        var certStart = text.IndexOf($"-----BEGIN {CertificateLabel}-----", StringComparison.Ordinal);
        if (certStart < 0) throw new InvalidOperationException($"--input '{input}' holds no {CertificateLabel} block (is it a site authority backup?)");
        using var key = ECDsa.Create();
        try { key.ImportFromEncryptedPem(text[keyFields.Location], passphrase); }
        catch (CryptographicException) { throw new InvalidOperationException($"--passphrase-file does not open the backup '{input}' (wrong passphrase, or a damaged file)"); }
        using var certificate = X509Certificate2.CreateFromPem(text.AsSpan(certStart));
        if (!certificate.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            throw new InvalidOperationException($"the backup '{input}' holds a certificate that is not for its key");
        PrivateFiles.CreateDirectory(keysDirectory);
        PrivateFiles.WriteAtomically(keyPath, Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()), overwrite: false);
        PrivateFiles.WriteAtomically(certPath, Encoding.ASCII.GetBytes(certificate.ExportCertificatePem()), overwrite: false);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
    }

    static void CheckPassphrase(string passphrase)
    {
        if (passphrase.Length < MinPassphraseLength)
            throw new InvalidOperationException($"--passphrase-file: the passphrase has {passphrase.Length} characters; a backup needs at least {MinPassphraseLength}");
    }

    /// <summary><c>srnode site-authority backup|restore</c>.</summary>
    public static Command Command()
    {
        var data = new Option<string>("--data") { Description = "The configuration node's data directory (its keys/ holds the authority)", Required = true };
        var passphraseFile = new Option<string>("--passphrase-file") { Description = "A file holding the passphrase the backup's key is derived from (at least 12 characters)", Required = true };
        var output = new Option<string>("--output") { Description = "The backup file to write (0600; never over an existing file)", Required = true };
        var backup = new Command("backup", "Write the site's authority (its key encrypted with the passphrase, and its certificate) to one file") { data, output, passphraseFile };
        backup.SetAction(async (parse, ct) => await Run("backup", async () =>
        {
            var file = Path.GetFullPath(parse.GetValue(output)!);
            Backup(Keys(parse.GetValue(data)!), file, await Passphrase(parse.GetValue(passphraseFile)!, ct));
            Console.WriteLine($"srnode: site authority backed up to {file} (key encrypted; keep the passphrase apart from it)");
        }));
        var input = new Option<string>("--input") { Description = "The backup file `site-authority backup` wrote", Required = true };
        var restore = new Command("restore", "Restore the site's authority from a backup into a data directory that has none (the node must be stopped)") { data, input, passphraseFile };
        restore.SetAction(async (parse, ct) => await Run("restore", async () =>
        {
            var sha = Restore(Keys(parse.GetValue(data)!), Path.GetFullPath(parse.GetValue(input)!), await Passphrase(parse.GetValue(passphraseFile)!, ct));
            Console.WriteLine($"srnode: site authority restored (certificate sha256 {sha})");
        }));
        return new Command("site-authority", "Back up or restore the site's certificate authority") { backup, restore };
    }

    static string Keys(string data) => Path.Combine(Path.GetFullPath(data), "keys");

    static async Task<string> Passphrase(string file, CancellationToken ct)
    {
        try { return await SiteRecovery.Connections.ComponentEnrollment.ReadPassphraseAsync("--passphrase-file", file, ct); }
        catch (ArgumentException e) { throw new InvalidOperationException(e.Message); }
    }

    static async Task<int> Run(string what, Func<Task> action)
    {
        try
        {
            await action();
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or CryptographicException)
        {
            Console.Error.WriteLine($"srnode site-authority {what}: {e.Message}");
            return 2;
        }
    }
}

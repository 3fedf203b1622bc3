using System.Security.Cryptography;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Net;
using SiteRecovery.Node.Access;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

/// <summary>
/// The site authority's backup (encrypted PKCS#8 and its certificate, one file) and its restore, and the node's
/// <see cref="RevocationList"/> answering for real certificates the authority issued.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SiteAuthorityBackupTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("sr-ca-backup-").FullName;
    string Keys(string name) => Path.Combine(_root, name, "keys");
    const string Passphrase = "a long backup passphrase";

    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    [Fact]
    public void A_backup_round_trips_holds_no_clear_key_is_0600_and_never_overwrites()
    {
        using var ca = SiteAuthority.OpenOrCreate(Keys("a"), DateTimeOffset.UtcNow);
        var clearKey = File.ReadAllText(SiteAuthority.KeyPath(Keys("a")));
        var backup = Path.Combine(_root, "ca.backup");
        SiteAuthorityBackup.Backup(Keys("a"), backup, Passphrase);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));
        var text = File.ReadAllText(backup);
        Assert.Contains("ENCRYPTED PRIVATE KEY", text);
        Assert.DoesNotContain("BEGIN PRIVATE KEY", text);
        // No line of the clear key's body appears in the backup.
        foreach (var line in clearKey.Split('\n').Where(l => l.Length > 20 && !l.StartsWith("-----")))
            Assert.DoesNotContain(line, text);
        Assert.Contains("exists", Assert.Throws<InvalidOperationException>(() => SiteAuthorityBackup.Backup(Keys("a"), backup, Passphrase)).Message);

        // Restored elsewhere, it is the same authority: what it issues chains to the original's certificate.
        var sha = SiteAuthorityBackup.Restore(Keys("b"), backup, Passphrase);
        Assert.Equal(ca.Certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant(), sha);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SiteAuthority.KeyPath(Keys("b"))));
        using var restored = SiteAuthority.OpenOrCreate(Keys("b"), DateTimeOffset.UtcNow);
        Assert.Equal(ca.Certificate.Thumbprint, restored.Certificate.Thumbprint);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var issued = restored.Issue("vm1", ComponentKind.Agent, key.ExportSubjectPublicKeyInfo(), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        Assert.True(CertificateTrust.IssuedToClientBy([ca.Certificate], issued, null));
    }

    [Fact]
    public void A_wrong_passphrase_a_short_one_or_a_directory_with_an_authority_is_refused_by_name_and_writes_nothing()
    {
        using (SiteAuthority.OpenOrCreate(Keys("a"), DateTimeOffset.UtcNow)) { }
        var backup = Path.Combine(_root, "ca.backup");
        Assert.Contains("at least", Assert.Throws<InvalidOperationException>(() => SiteAuthorityBackup.Backup(Keys("a"), backup, "short")).Message);
        Assert.False(File.Exists(backup));
        SiteAuthorityBackup.Backup(Keys("a"), backup, Passphrase);

        Assert.Contains("does not open", Assert.Throws<InvalidOperationException>(() => SiteAuthorityBackup.Restore(Keys("b"), backup, Passphrase + "x")).Message);
        Assert.False(File.Exists(SiteAuthority.KeyPath(Keys("b"))));
        Assert.False(File.Exists(SiteAuthority.CertificatePath(Keys("b"))));

        var before = File.ReadAllText(SiteAuthority.KeyPath(Keys("a")));
        Assert.Contains("already holds", Assert.Throws<InvalidOperationException>(() => SiteAuthorityBackup.Restore(Keys("a"), backup, Passphrase)).Message);
        Assert.Equal(before, File.ReadAllText(SiteAuthority.KeyPath(Keys("a"))));
        Assert.Contains("no site authority", Assert.Throws<InvalidOperationException>(() => SiteAuthorityBackup.Backup(Keys("none"), Path.Combine(_root, "x"), Passphrase)).Message);
    }

    [Fact]
    public void The_revocation_list_names_a_revoked_certificate_by_serial_and_issuer_and_why()
    {
        using var ca = SiteAuthority.OpenOrCreate(Keys("a"), DateTimeOffset.UtcNow);
        using var other = SiteAuthority.OpenOrCreate(Keys("o"), DateTimeOffset.UtcNow);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var plan = ca.Plan(DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        using var revokedCert = ca.Issue("ps1-ps", ComponentKind.ProcessServer, key.ExportSubjectPublicKeyInfo(), plan);
        using var kept = ca.Issue("ps1-ps", ComponentKind.ProcessServer, key.ExportSubjectPublicKeyInfo(), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        Assert.Equal(plan.SerialHex, revokedCert.SerialNumber);
        Assert.Equal(ca.Issuer, revokedCert.IssuerName.Name);

        var list = new RevocationList();
        Assert.Null(list.Check(revokedCert));
        list.Apply(new ComponentRegistered("cs1", "ps1-ps", ComponentKind.ProcessServer, "n", 1));
        list.Apply(new ComponentCertificatesRevoked("cs1", "ps1-ps", [new RevokedCertificate(plan.SerialHex, plan.Issuer, plan.NotAfterUnixMs)],
            CertificateRevocationReason.KeyReplaced, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

        var why = list.Check(revokedCert);
        Assert.NotNull(why);
        Assert.Contains(plan.SerialHex, why);
        Assert.Contains("KeyReplaced", why);
        Assert.Equal(CertificateRevocationReason.KeyReplaced, list.Find(plan.SerialHex.ToLowerInvariant(), ca.Issuer)!.Reason);
        Assert.Null(list.Check(kept));
        // The same serial under another issuer is another certificate.
        Assert.Null(list.Find(plan.SerialHex, other.Issuer));
        Assert.Equal(2, list.EventsSeen);
        Assert.Equal(plan.SerialHex, Assert.Single(list.All).SerialHex);
    }
}

using SiteRecovery.Capture.Nbd;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Capture.Tests;

/// <summary>The three TLS files given by flags: all or none, a key readable by others refused, errors naming the flag.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NbdTlsFilesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("nbd-tls-files").FullName;
    string this[string name] => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    void WriteFiles()
    {
        var ca = TestPki.Authority("files-ca");
        TestPki.WritePem(ca, this["ca.pem"]);
        TestPki.WritePem(TestPki.Server(ca), this["server.pem"], this["server.key"]);
    }

    [Fact]
    public void None_given_is_tls_off_and_all_three_load()
    {
        Assert.Null(NbdTlsFiles.FromFlags("--nbd-tls", null, null, null));
        WriteFiles();
        var tls = NbdTlsFiles.FromFlags("--nbd-tls", this["server.pem"], this["server.key"], this["ca.pem"]);
        Assert.NotNull(tls);
        Assert.True(tls.Certificate.HasPrivateKey);
        Assert.Single(tls.ClientAuthorities);
    }

    [Fact]
    public void Some_but_not_all_are_refused_naming_what_is_missing()
    {
        var e = Assert.Throws<ArgumentException>(() => NbdTlsFiles.FromFlags("--nbd-tls", "a.pem", null, "ca.pem"));
        Assert.Contains("give all three or none (missing --nbd-tls-key)", e.Message);
    }

    [Fact]
    public void A_key_others_may_read_is_refused_and_left_as_it_is()
    {
        WriteFiles();
        File.SetUnixFileMode(this["server.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var e = Assert.Throws<ArgumentException>(() => NbdTlsFiles.FromFlags("--nbd-tls", this["server.pem"], this["server.key"], this["ca.pem"]));
        Assert.Contains($"--nbd-tls-key '{this["server.key"]}' may be read or written by other users", e.Message);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead, File.GetUnixFileMode(this["server.key"]));
    }

    [Fact]
    public void A_client_ca_file_without_a_certificate_and_a_key_of_another_certificate_are_refused_by_flag()
    {
        WriteFiles();
        File.WriteAllText(this["empty.pem"], "");
        var e = Assert.Throws<ArgumentException>(() => NbdTlsFiles.FromFlags("--nbd-tls", this["server.pem"], this["server.key"], this["empty.pem"]));
        Assert.StartsWith("--nbd-tls-client-ca:", e.Message);

        TestPki.WritePem(TestPki.Server(TestPki.Authority("x")), this["other.pem"], this["other.key"]);
        e = Assert.Throws<ArgumentException>(() => NbdTlsFiles.FromFlags("--nbd-tls", this["server.pem"], this["other.key"], this["ca.pem"]));
        Assert.StartsWith("--nbd-tls-certificate", e.Message);
    }
}

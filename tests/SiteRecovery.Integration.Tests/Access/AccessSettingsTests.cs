using SiteRecovery.Node.Access;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

/// <summary>Bad API settings and a bad journal key stop the start with the key or file named, and change nothing.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AccessSettingsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-access-settings-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    string Conf(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("n")[..6] + ".conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Api_settings_out_of_range_are_refused_naming_the_key()
    {
        Assert.Contains("failed-authentications = 0", Assert.Throws<ArgumentException>(() => ApiSettings.Load(Conf("siterecovery.api.failed-authentications = 0"))).Message);
        Assert.Contains("failed-authentication-window", Assert.Throws<ArgumentException>(() => ApiSettings.Load(Conf("siterecovery.api.failed-authentication-window = 0s"))).Message);
        Assert.Contains("allowed-hosts", Assert.Throws<ArgumentException>(() => ApiSettings.Load(Conf("siterecovery.api.allowed-hosts = [\"a b\"]"))).Message);
        Assert.Contains("component-certificate-lifetime", Assert.Throws<ArgumentException>(() => ApiSettings.Load(Conf("siterecovery.api.component-certificate-lifetime = 10m"))).Message);
        Assert.Contains("component-certificate-lifetime", Assert.Throws<ArgumentException>(() => ApiSettings.Load(Conf("siterecovery.api.component-certificate-lifetime = 400d"))).Message);
        Assert.Equal(TimeSpan.FromDays(7), ApiSettings.Load(Conf("siterecovery.api.component-certificate-lifetime = 7d")).ComponentCertificateLifetime);
        var ok = ApiSettings.Load(Conf("siterecovery.api.allowed-hosts = [\"dr.example\"]"));
        Assert.Contains("dr.example", ok.HostsFor("https://10.0.0.2:9700"));
        Assert.Contains("10.0.0.2", ok.HostsFor("https://10.0.0.2:9700"));
        Assert.DoesNotContain("0.0.0.0", ok.HostsFor("http://0.0.0.0:9700"));
    }

    [Fact]
    public void A_journal_key_of_the_wrong_size_or_readable_by_others_is_refused_and_left_as_it_is()
    {
        var shortKey = Path.Combine(_dir, "short.key");
        File.WriteAllBytes(shortKey, new byte[16]);
        File.SetUnixFileMode(shortKey, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("16 bytes", Assert.Throws<ArgumentException>(() => JournalKeyFile.Use(shortKey)).Message);
        Assert.Equal(16, new FileInfo(shortKey).Length);

        var open = Path.Combine(_dir, "open.key");
        File.WriteAllBytes(open, new byte[32]);
        File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<ArgumentException>(() => JournalKeyFile.Use(open)).Message);
        Assert.Equal(new byte[32], File.ReadAllBytes(open));
    }
}

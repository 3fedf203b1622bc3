using SiteRecovery.Azure.Replicas;

namespace SiteRecovery.Journal.Tests;

/// <summary>Where the storage account's credentials come from, and refusals that name the source but never the key.</summary>
public sealed class StorageAccountTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(string text, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var file = _dir.Sub($"a-{Guid.NewGuid():N}.conf");
        File.WriteAllText(file, text);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, mode);
        return file;
    }

    [Fact]
    public async Task ConnectionStringFromAnEnvironmentVariableReachesAzurite()
    {
        Azurite.RequireRunning();
        var name = "SR_TEST_STORAGE_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name, Azurite.ConnectionString());
        try
        {
            var account = StorageAccount.FromEnvironment(name);
            Assert.Equal($"environment variable ${name}", account.Source);
            var client = account.Connect(PageBlobReplicaStoreFactory.ClientOptions(Azurite.Options("x").Retry));
            var properties = await client.GetPropertiesAsync();
            Assert.NotNull(properties.Value);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void AConnectionStringWithEndpointSuffixIsAConnectionString()
    {
        var file = Write("EndpointSuffix=core.windows.net;DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + Convert.ToBase64String(new byte[64]));
        Assert.Equal($"connection file '{file}'", StorageAccount.FromFile(file).Source);
    }

    [Fact]
    public void BadSourcesAreRefusedByNameWithoutTheirContent()
    {
        Assert.Contains("is not set", Assert.Throws<ArgumentException>(() => StorageAccount.FromEnvironment("SR_TEST_UNSET_" + Guid.NewGuid().ToString("N"))).Message);
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => StorageAccount.FromFile(_dir.Sub("missing"))).Message);

        var open = Write(Azurite.ConnectionString(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<ArgumentException>(() => StorageAccount.FromFile(open)).Message);

        var secret = "c2VjcmV0LWtleS1ub3QtdG8tYmUtc2hvd24=";
        foreach (var text in new[]
                 {
                     $"endpoint = http://127.0.0.1:10000/a\naccount-name = a\n",                                  // no key
                     $"endpoint = ftp://x/\naccount-name = a\naccount-key = {secret}\n",                           // not http
                     $"endpoint = http://127.0.0.1:10000/a\naccount-name = a\naccount-key = {secret}!\n",          // not base64
                     $"endpoint = http://127.0.0.1:10000/a\naccount-name = a\naccount-key = {secret}\nsas = x\n",  // unknown key
                     $"AccountKey={secret};Nonsense",                                                              // broken connection string
                 })
        {
            var file = Write(text);
            var e = Assert.Throws<ArgumentException>(() => StorageAccount.FromFile(file));
            Assert.Contains(file, e.Message);
            Assert.DoesNotContain(secret, e.ToString());
        }
    }
}

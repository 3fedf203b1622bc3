using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>The API on https with the certificate the node makes: trusted by its file, refused without it, kept across restarts.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApiTlsTests : IDisposable
{
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    readonly TempDir _dir = new("api-tls");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_node_on_https_serves_its_own_certificate_which_clients_trust_by_its_file_and_nothing_else()
    {
        using var node = new Node("tls", "all", _dir["n"], _dir.Path) { Https = true };
        await node.StartAsync();
        Assert.StartsWith("https://", node.ApiUrl);
        Assert.Equal(HttpStatusCode.OK, (await node.Api.GetAsync("api/status")).Status);

        using var served = X509Certificate2.CreateFromPem(File.ReadAllText(node.ApiCertificateFile));
        Assert.True(served.MatchesHostname("127.0.0.1"));
        Assert.True(served.MatchesHostname("localhost"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(node.DataDir, "keys", "api.key")));

        // A client that trusts only the system's roots does not get through, and neither does plain http on the port.
        using (var plain = new HttpClient())
        {
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(node.ApiUrl + "/api/health"));
            Assert.IsType<System.Security.Authentication.AuthenticationException>(refused.InnerException);
            var http = node.ApiUrl.Replace("https://", "http://");
            HttpResponseMessage? answer = null;
            try { answer = await plain.GetAsync(http + "/api/health"); } catch (HttpRequestException) { }
            Assert.True(answer is null || !answer.IsSuccessStatusCode, $"plain http on the https port answered {answer?.StatusCode}");
        }

        var srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");
        var ok = await ExternalTool.RunOkAsync("dotnet", [srctl, "status", "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile, "--ca-file", node.ApiCertificateFile], Minute);
        Assert.Equal("tls", JsonNode.Parse(ok.StdOut)!["nodeId"]!.GetValue<string>());
        // From a directory with no node of its own, srctl has no certificate to trust by default.
        var untrusted = await ExternalTool.RunAsync("sh", ["-c", "cd \"$1\" && shift && exec dotnet \"$@\"", "srctl", _dir.Path,
            srctl, "status", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
        Assert.NotEqual(0, untrusted.ExitCode);
        Assert.Contains("not trusted", untrusted.StdErr);

        // The certificate is the node's for good: a restart serves the same one, so clients' trust holds.
        var thumbprint = served.Thumbprint;
        await node.StopAsync();
        await node.StartAsync();
        using var again = X509Certificate2.CreateFromPem(File.ReadAllText(node.ApiCertificateFile));
        Assert.Equal(thumbprint, again.Thumbprint);
        Assert.Equal(HttpStatusCode.OK, (await node.Api.GetAsync("api/status")).Status);
    }
}

using System.Net;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// A site whose data path can require mutual TLS: a configuration node (the site's authority) with configuration server
/// cs1 and its passphrase in a private file; data nodes register with it, agents with <c>sragent register</c>.
/// </summary>
public sealed class TlsSite : IDisposable
{
    public required Node Config { get; init; }
    public required string PassphraseFile { get; init; }
    public List<IDisposable> Owned { get; } = [];

    public static async Task<TlsSite> StartAsync(TempDir dir)
    {
        var config = new Node("cfg", "configuration", dir["cfg"], dir.Path);
        await config.StartAsync();
        return await OnAsync(config, dir);
    }

    /// <summary>The site whose authority is <paramref name="config"/>, a started node with the configuration role: makes configuration server cs1 there.</summary>
    public static async Task<TlsSite> OnAsync(Node config, TempDir dir)
    {
        Assert.Equal(HttpStatusCode.OK, (await config.Api.PostAsync("/api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        var key = (await config.Api.PostAsync("/api/vaults/v1/keys", new { })).Body!["key"]!.GetValue<string>();
        var passphrase = (await config.Api.PostAsync("/api/configuration-servers",
            new { id = "cs1", registrationKey = key, connectivity = "Internet", endpoints = new[] { "127.0.0.1:443" } })).Body!["passphrase"]!.GetValue<string>();
        var file = dir["passphrase.txt"];
        SiteRecovery.Contracts.Storage.PrivateFiles.CreateNew(file);
        File.WriteAllText(file, passphrase);
        return new TlsSite { Config = config, PassphraseFile = file };
    }

    public void Dispose()
    {
        foreach (var d in Enumerable.Reverse(Owned)) d.Dispose();
        Config.Dispose();
    }

    /// <summary>A node registered with the site, its listeners requiring TLS, with <paramref name="moreHocon"/> settings.</summary>
    public Node DataNode(TempDir dir, string id, string roles, string? masterTarget = null, string? moreHocon = null)
    {
        var conf = RequiredTlsConfig(dir, id, moreHocon);
        var node = new Node(id, roles, dir[id], dir.Path, masterTarget, [.. RegisterArgs, "--config", conf]);
        Owned.Add(node);
        return node;
    }

    /// <summary>A HOCON file (in <paramref name="dir"/>) that makes both data-path listeners require TLS, followed by <paramref name="moreHocon"/>.</summary>
    public static string RequiredTlsConfig(TempDir dir, string name, string? moreHocon = null)
    {
        var conf = dir[$"{name}-tls.hocon"];
        File.WriteAllText(conf, "siterecovery.data-path.tls { process-server = required, master-target = required }\n" + (moreHocon ?? ""));
        return conf;
    }

    /// <summary>The arguments that register a data node's roles with this site (<c>srnode --register-with</c>).</summary>
    public string[] RegisterArgs => ["--register-with", Config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", PassphraseFile];

    public Task RegisterAgentAsync(string id, string folder) => ExternalTool.RunOkAsync("dotnet", [Repo.AgentDll, "register", "--id", id, "--api", Config.ApiUrl,
        "--configuration-server", "cs1", "--passphrase-file", PassphraseFile, "--state-dir", folder], TimeSpan.FromMinutes(1));
}

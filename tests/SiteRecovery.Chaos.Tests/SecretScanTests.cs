using System.Net;
using System.Text.RegularExpressions;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// tests/secret-scan.sh, which every process-level test runs on its directory before deleting it (<see cref="TempDir"/>)
/// and the quickstart on its own: it finds a leaked secret of each kind, and on a real node it has secrets to look for.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class SecretScanTests : IDisposable
{
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    readonly TempDir _dir = new("secret-scan");

    public void Dispose() => _dir.Dispose();

    static Task<ProcessRun> ScanAsync(string dir) =>
        ExternalTool.RunAsync("bash", [Path.Combine(Repo.Root, "tests", "secret-scan.sh"), dir], Minute);

    [GeneratedRegex(@"secret scan: (\d+) files, (\d+) secrets, (\d+) outside the keystore")]
    private static partial Regex Totals();

    [Fact]
    public async Task A_token_a_private_key_or_the_journal_key_outside_the_keystore_is_found_and_named_without_its_value()
    {
        using var node = new Node("scan", "all", _dir["n"], _dir.Path) { Https = true };
        await node.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await node.Api.GetAsync("api/status")).Status);
        await node.StopAsync();

        // A real node's directory and its log: its admin token, API key and journal key are found, and none of them elsewhere.
        var clean = await ScanAsync(_dir.Path);
        Assert.True(clean.ExitCode == 0, clean.Output);
        var totals = Totals().Match(clean.Output);
        Assert.True(totals.Success, clean.Output);
        Assert.True(int.Parse(totals.Groups[2].Value) >= 4, $"too few secrets found to scan for: {clean.Output}");
        Assert.True(int.Parse(totals.Groups[1].Value) >= 2, $"too few files scanned: {clean.Output}");

        // Each kind, leaked into a file of its own: each is found, named by where it belongs, never shown.
        var keys = Path.Combine(node.DataDir, "keys");
        var token = File.ReadAllText(Path.Combine(keys, "admin.token")).Trim();
        var secret = token[(token.IndexOf('.') + 1)..];
        var pemLine = File.ReadAllLines(Path.Combine(keys, "api.key")).First(l => l.Length >= 40 && !l.StartsWith("-----"));
        var journalKey = File.ReadAllBytes(Path.Combine(keys, "journal.key"));
        File.WriteAllText(Path.Combine(node.DataDir, "leak-token.log"), $"caller presented {secret}\n");
        File.WriteAllText(Path.Combine(node.DataDir, "leak-pem.txt"), pemLine);
        File.WriteAllText(Path.Combine(node.DataDir, "leak-key.json"), $"{{\"k\":\"{Convert.ToBase64String(journalKey)}\"}}");
        File.WriteAllText(Path.Combine(node.DataDir, "leak-hex.log"), Convert.ToHexStringLower(journalKey));
        var found = await ScanAsync(_dir.Path);
        Assert.Equal(1, found.ExitCode);
        Assert.True(Totals().Match(found.Output).Groups[3].Value == "4", found.Output);
        foreach (var (leak, owner) in new[] { ("leak-token.log", "admin.token"), ("leak-pem.txt", "api.key"), ("leak-key.json", "journal.key"), ("leak-hex.log", "journal.key") })
            Assert.Contains($"{owner} is in {Path.Combine(node.DataDir, leak)}", found.Output);
        Assert.DoesNotContain(secret, found.Output);
        Assert.DoesNotContain(pemLine, found.Output);
        foreach (var leak in Directory.GetFiles(node.DataDir, "leak-*")) File.Delete(leak);
    }

    [Fact]
    public async Task A_directory_that_is_not_there_is_bad_usage_not_a_clean_scan()
    {
        var run = await ScanAsync(_dir["missing"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("is not a directory", run.Output);
    }
}

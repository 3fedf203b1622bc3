using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The API on a real node: who gets in, with which role, what is refused and how, and what is kept of it. Every
/// refusal changes nothing, is an audit entry on the event stream, and no token's text lands in a log, the journal or
/// any file outside the keystore.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApiAccessTests : IDisposable
{
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    readonly TempDir _dir = new("access");

    public void Dispose() => _dir.Dispose();

    static string Concrete(string route) => System.Text.RegularExpressions.Regex.Replace(route, @"\{(\w+)(:int)?\}", m => m.Groups[2].Success ? "0" : "x");

    static async Task<string> TokenAsync(Api admin, string name, string role, long? expiresInSeconds = null)
    {
        var r = await admin.PostAsync("api/tokens", new { name, role, expiresInSeconds });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        return r.Body!["token"]!.GetValue<string>();
    }

    [Fact]
    public async Task Every_endpoint_refuses_a_caller_without_a_token_or_with_too_small_a_role_and_nothing_changes()
    {
        using var node = new Node("acc", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        var table = (await node.Api.GetAsync("api/access")).Body!.AsArray();
        Assert.True(table.Count > 50, $"the access table lists {table.Count} endpoints");
        var reader = await TokenAsync(node.Api, "watcher", "reader");
        var op = await TokenAsync(node.Api, "oncall", "operator");
        using var anonymous = node.Api.As(null);
        using var asReader = node.Api.As(reader);
        using var asOperator = node.Api.As(op);

        var rank = new Dictionary<string, int> { ["reader"] = 1, ["operator"] = 2, ["recovery-admin"] = 3, ["admin"] = 4 };
        var knocked = 0;
        foreach (var rule in table)
        {
            var (method, route, role) = (rule!["method"]!.GetValue<string>(), rule["route"]!.GetValue<string>(), rule["role"]!.GetValue<string>());
            var path = Concrete(route).TrimStart('/');
            async Task<ApiResponse> Send(Api api) => method switch
            {
                "GET" => await api.GetAsync(path),
                "POST" => await api.PostAsync(path, new { }),
                "PUT" => await api.PutAsync(path, new { }),
                "DELETE" => await api.DeleteAsync(path),
                _ => throw new InvalidOperationException($"{method} {route}: no way to send it"),
            };
            if (role == "anonymous")
            {
                Assert.NotEqual(HttpStatusCode.Unauthorized, (await Send(anonymous)).Status);
                continue;
            }
            // The events stream answers 200 and then streams: its refusal is checked below, with a token that may not.
            if (route == "/api/events") continue;
            var none = await Send(anonymous);
            Assert.True(none.Status == HttpStatusCode.Unauthorized, $"{method} {route} without a token: {(int)none.Status} {none.Text}");
            Assert.Contains("bearer token", none.Error);
            Assert.Contains(role, none.Error);
            if (rank[role] > rank["reader"])
            {
                var low = await Send(rank[role] > rank["operator"] ? asOperator : asReader);
                Assert.True(low.Status == HttpStatusCode.Forbidden, $"{method} {route} with too small a role: {(int)low.Status} {low.Text}");
                Assert.Contains($"needs the {role} role", low.Error);
            }
            knocked++;
        }
        Assert.True(knocked > 45, $"only {knocked} endpoints knocked");

        // The event stream, like every other read, needs a token.
        using (var http = new HttpClient())
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(node.ApiUrl + "/api/events")).StatusCode);

        // A test failover is an operator's; a planned or unplanned one needs a recovery admin, whatever else the body says.
        var planned = await asOperator.PostAsync("api/failovers", new { plan = "p1", kind = "planned" });
        Assert.Equal(HttpStatusCode.Forbidden, planned.Status);
        Assert.Contains("a planned failover needs the recovery-admin role", planned.Error);
        Assert.Equal(HttpStatusCode.NotFound, (await asOperator.PostAsync("api/failovers", new { plan = "p1", kind = "test" })).Status);

        // Nothing any refused call asked for happened.
        Assert.Empty((await node.Api.GetAsync("api/vaults")).Body!["vaultNames"]!.AsArray());
        Assert.Empty((await node.Api.GetAsync("api/recovery-plans")).Body!["plans"]!.AsArray());
        Assert.Equal(3, (await node.Api.GetAsync("api/tokens")).Body!.AsArray().Count);
        Assert.Empty(Directory.GetFiles(node.RecoveryDir!, "*.img"));
    }

    [Fact]
    public async Task Expired_revoked_and_forged_tokens_and_foreign_hosts_are_refused_and_every_refusal_and_change_is_audited_without_secrets()
    {
        using var node = new Node("aud", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        using var events = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var streamCts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var opened = await events.SendAsync(node.Api.Request(HttpMethod.Get, node.ApiUrl + "/api/events"), HttpCompletionOption.ResponseHeadersRead, streamCts.Token);
        Assert.Equal(HttpStatusCode.OK, opened.StatusCode);
        var streamed = new StringBuilder();
        var reading = Task.Run(async () =>
        {
            using var r = new StreamReader(await opened.Content.ReadAsStreamAsync(streamCts.Token));
            try { while (await r.ReadLineAsync(streamCts.Token) is { } line) lock (streamed) streamed.AppendLine(line); }
            catch (Exception e) when (e is OperationCanceledException or IOException) { }
        });

        var shortLived = await TokenAsync(node.Api, "short", "admin", expiresInSeconds: 1);
        var revoked = await TokenAsync(node.Api, "leaver", "admin");
        var leaverId = revoked[4..16];
        Assert.Equal(HttpStatusCode.OK, (await node.Api.DeleteAsync($"api/tokens/{leaverId}")).Status);
        var forged = revoked[..17] + new string('A', revoked.Length - 17);
        var op = await TokenAsync(node.Api, "oncall", "operator");

        await Task.Delay(1200);
        using (var expiredApi = node.Api.As(shortLived))
        {
            var r = await expiredApi.PostAsync("api/vaults", new { name = "v-expired", region = "WestEurope" });
            Assert.Equal(HttpStatusCode.Unauthorized, r.Status);
            Assert.Contains("expired", r.Error);
        }
        using (var revokedApi = node.Api.As(revoked))
        {
            var r = await revokedApi.PostAsync("api/vaults", new { name = "v-revoked", region = "WestEurope" });
            Assert.Equal(HttpStatusCode.Unauthorized, r.Status);
            Assert.Contains("revoked", r.Error);
        }
        using (var forgedApi = node.Api.As(forged))
            Assert.Equal(HttpStatusCode.Unauthorized, (await forgedApi.PostAsync("api/vaults", new { name = "v-forged", region = "WestEurope" })).Status);
        using (var opApi = node.Api.As(op))
            Assert.Equal(HttpStatusCode.Forbidden, (await opApi.PostAsync("api/vaults", new { name = "v-op", region = "WestEurope" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync("api/vaults", new { name = "v-admin", region = "WestEurope" })).Status);

        // A page on another site whose name resolves here (DNS rebinding) names its own host: refused before any endpoint.
        using (var http = new HttpClient())
        {
            using var rebound = node.Api.Request(HttpMethod.Post, node.ApiUrl + "/api/vaults");
            rebound.Headers.Host = "attacker.example";
            rebound.Content = System.Net.Http.Json.JsonContent.Create(new { name = "v-rebound", region = "WestEurope" });
            Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(rebound)).StatusCode);
            using var local = node.Api.Request(HttpMethod.Get, node.ApiUrl + "/api/status");
            local.Headers.Host = $"localhost:{node.ApiPort}";
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(local)).StatusCode);
        }

        // The last admin token cannot be revoked: nobody could make another without restarting the node.
        var adminId = Api.AdminTokenOf(node.DataDir)![4..16];
        var last = await node.Api.DeleteAsync($"api/tokens/{adminId}");
        Assert.Equal(HttpStatusCode.Conflict, last.Status);
        Assert.Contains("last live admin token", last.Error);

        var vaults = (await node.Api.GetAsync("api/vaults")).Body!["vaultNames"]!.AsArray().Select(v => v!.ToJsonString()).ToList();
        Assert.Single(vaults);
        Assert.Contains("v-admin", vaults[0]);

        // Audited: each refusal with its reason and each change with who made it, on the live event stream.
        var expected = new (string What, Func<string, bool> Line)[]
        {
            ("an expired token's refusal", l => l.Contains("\"refusal\":\"token expired\"") && l.Contains("/api/vaults")),
            ("a revoked token's refusal", l => l.Contains("\"refusal\":\"token revoked\"")),
            ("a forged token's refusal", l => l.Contains("\"refusal\":\"token wrongsecret\"")),
            ("a role refusal", l => l.Contains("\"refusal\":\"role\"") && l.Contains("\"caller\":\"oncall\"") && l.Contains("\"status\":403")),
            ("the admin's vault", l => l.Contains("\"method\":\"POST\"") && l.Contains("\"path\":\"/api/vaults\"") && l.Contains("\"status\":200") && l.Contains("bootstrap-admin")),
            ("the revocation", l => l.Contains("\"method\":\"DELETE\"") && l.Contains(leaverId) && l.Contains("\"status\":200")),
            ("the refused revocation", l => l.Contains("\"method\":\"DELETE\"") && l.Contains("\"status\":409")),
        };
        string seen = "";
        List<string> Audits() { lock (streamed) seen = streamed.ToString(); return seen.Split('\n').Where(l => l.Contains("ApiCallAudited")).ToList(); }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !expected.All(e => Audits().Any(e.Line))) await Task.Delay(200);
        var audits = Audits();
        foreach (var (what, line) in expected)
            Assert.True(audits.Any(line), $"no audit entry for {what} in:\n{string.Join('\n', audits)}");
        streamCts.Cancel();
        await reading;

        // No token's text anywhere but the keystore: not in the stream, the node's log, the journal or any other file.
        await node.StopAsync();
        foreach (var secret in new[] { shortLived, revoked, op, Api.AdminTokenOf(node.DataDir)! })
        {
            var text = secret[(secret.IndexOf('.') + 1)..];
            Assert.DoesNotContain(text, seen);
            Assert.DoesNotContain(text, node.Logs(100000));
            foreach (var file in Directory.EnumerateFiles(node.DataDir, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(Path.Combine("keys", "admin.token"))))
                Assert.False(File.ReadAllBytes(file).AsSpan().IndexOf(Encoding.ASCII.GetBytes(text)) >= 0, $"a token's secret is in {file}");
        }
    }

    [Fact]
    public async Task A_source_that_keeps_failing_to_authenticate_is_held_off_for_the_window_even_with_a_good_token_then_let_in()
    {
        var conf = _dir["limits.conf"];
        await File.WriteAllTextAsync(conf, "siterecovery.api { failed-authentications = 3, failed-authentication-window = 4s }\n");
        using var node = new Node("lim", "all", _dir["n"], _dir.Path, null, "--config", conf);
        await node.StartAsync();
        using var guesser = node.Api.As("srt_0123456789ab.guess");
        var started = DateTime.UtcNow;
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await guesser.GetAsync("api/status")).Status);
        var held = await guesser.GetAsync("api/status");
        Assert.Equal((HttpStatusCode)429, held.Status);
        Assert.Contains("failed to authenticate too often", held.Error);
        // A token from the same source is not even looked at while it is held off, and neither is a passphrase proof.
        Assert.Equal((HttpStatusCode)429, (await node.Api.GetAsync("api/status")).Status);
        Assert.Equal((HttpStatusCode)429, (await node.Api.As(null).PostAsync("api/configuration-servers/cs1/components", new { componentId = "x", nonce = "n", proof = "p" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await node.Api.As(null).GetAsync("api/health")).Status);

        var deadline = started.AddSeconds(20);
        while ((await node.Api.GetAsync("api/status")).Status != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "the good token was still held off 20 s after a 4 s window");
            await Task.Delay(250);
        }
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1), "let in again before the window could have ended");
    }

    [Fact]
    public async Task A_vault_signing_secret_is_journaled_sealed_and_opens_after_a_restart_with_the_node_key_only()
    {
        using var node = new Node("seal", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync("api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        var before = (await node.Api.PostAsync("api/vaults/v1/keys", new { })).Body!["key"]!.GetValue<string>();
        await node.StopAsync();

        var journal = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(node.DataDir, "journal.db")));
        var field = "\"SigningSecretBase64\":\"";
        var at = journal.IndexOf(field, StringComparison.Ordinal);
        Assert.True(at >= 0, "the vault's event is not in the journal file");
        for (; at >= 0; at = journal.IndexOf(field, at + 1, StringComparison.Ordinal))
            Assert.StartsWith("sealed:v1:", journal[(at + field.Length)..]);
        var keyFile = Path.Combine(node.DataDir, "keys", "journal.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));

        // Restarted, the vault opens its secret with the key file: a key issued before the restart still registers.
        await node.StartAsync();
        var registered = await node.Api.PostAsync("api/configuration-servers", new { id = "cs1", registrationKey = before, connectivity = "Internet", endpoints = new[] { "127.0.0.1:443" } });
        Assert.True(registered.Status == HttpStatusCode.OK, registered.Text);
        await node.StopAsync();

        // Without its key the journal's secrets stay shut: the node starts (a new key is made) but the vault cannot sign.
        File.Move(keyFile, keyFile + ".elsewhere");
        await node.StartAsync();
        var signed = await node.Api.PostAsync("api/vaults/v1/keys", new { });
        Assert.NotEqual(HttpStatusCode.OK, signed.Status);
        await node.Process!.WaitForLineAsync(l => l.Contains("does not open with this node's journal key", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the journal key's refusal");
    }

    [Fact]
    public async Task Srctl_makes_a_token_into_a_private_file_uses_it_lists_tokens_without_their_text_and_revokes_it()
    {
        using var node = new Node("ctl", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        var srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");
        var file = _dir["ci.token"];
        var made = await ExternalTool.RunOkAsync("dotnet", [srctl, "token", "create", "--name", "ci", "--role", "reader", "--out", file, "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
        var id = JsonNode.Parse(made.StdOut)!["id"]!.GetValue<string>();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var token = File.ReadAllText(file).Trim();
        Assert.DoesNotContain(token, made.StdOut);

        await ExternalTool.RunOkAsync("dotnet", [srctl, "status", "--api", node.ApiUrl, "--token-file", file], Minute);
        var denied = await ExternalTool.RunAsync("dotnet", [srctl, "token", "list", "--api", node.ApiUrl, "--token-file", file], Minute);
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("needs the admin role", denied.StdErr);

        var list = await ExternalTool.RunOkAsync("dotnet", [srctl, "token", "list", "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
        Assert.Contains(id, list.StdOut);
        Assert.DoesNotContain(token[(token.IndexOf('.') + 1)..], list.StdOut);
        await ExternalTool.RunOkAsync("dotnet", [srctl, "token", "revoke", id, "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
        var after = await ExternalTool.RunAsync("dotnet", [srctl, "status", "--api", node.ApiUrl, "--token-file", file], Minute);
        Assert.NotEqual(0, after.ExitCode);
        Assert.Contains("revoked", after.StdErr);

        var bad = await ExternalTool.RunAsync("dotnet", [srctl, "token", "create", "--name", "x", "--role", "root", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("'root' is not a role", bad.StdErr);
    }
}

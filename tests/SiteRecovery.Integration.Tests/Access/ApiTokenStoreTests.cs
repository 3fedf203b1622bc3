using System.Text;
using SiteRecovery.Node.Access;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApiTokenStoreTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-tokens-" + Guid.NewGuid().ToString("n")[..8]);
    long _now = 1_800_000_000_000;

    ApiTokenStore Open() => new(Path.Combine(_dir, "keys"), () => _now);

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void A_made_token_authenticates_with_its_role_and_its_secret_is_kept_nowhere()
    {
        var store = Open();
        var (token, text) = store.Create("portal", ApiRole.Operator, null);
        var (seen, refusal) = store.Verify(text);
        Assert.Null(refusal);
        Assert.Equal(token.Id, seen!.Id);
        Assert.Equal(ApiRole.Operator, seen.Role);
        Assert.StartsWith(ApiTokenStore.Prefix + token.Id + ".", text);

        var secret = text[(text.IndexOf('.') + 1)..];
        var file = File.ReadAllBytes(store.FilePath);
        Assert.False(Contains(file, Encoding.ASCII.GetBytes(secret)), "the token's secret is in the store file");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.FilePath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(store.FilePath)!));
    }

    [Fact]
    public void Every_wrong_presentation_is_refused_with_its_reason()
    {
        var store = Open();
        var (token, text) = store.Create("ci", ApiRole.Reader, null);
        var secret = text[(text.IndexOf('.') + 1)..];
        Assert.Equal(TokenRefusal.WrongSecret, store.Verify($"{ApiTokenStore.Prefix}{token.Id}.{(secret[0] == 'A' ? 'B' : 'A')}{secret[1..]}").Refusal);
        Assert.Equal(TokenRefusal.Unknown, store.Verify($"{ApiTokenStore.Prefix}000000000000.{secret}").Refusal);
        foreach (var bad in new[] { "", secret, text[ApiTokenStore.Prefix.Length..], $"{ApiTokenStore.Prefix}{token.Id}", $"{ApiTokenStore.Prefix}{token.Id}.",
                     $"{ApiTokenStore.Prefix}zzzzzzzzzzzz.{secret}", $"{ApiTokenStore.Prefix}{token.Id}x.{secret}", text + new string('a', 100) })
            Assert.Equal(TokenRefusal.Malformed, store.Verify(bad).Refusal);

        var random = new Random(3);
        for (var i = 0; i < 2000; i++)
        {
            var junk = new char[random.Next(0, 90)];
            for (var j = 0; j < junk.Length; j++) junk[j] = (char)random.Next(32, 127);
            var attempt = random.Next(3) == 0 ? $"{ApiTokenStore.Prefix}{token.Id}.{new string(junk)}" : new string(junk);
            Assert.NotNull(store.Verify(attempt).Refusal);
        }
    }

    [Fact]
    public void Expiry_and_revocation_end_a_token_and_survive_a_reopen()
    {
        var store = Open();
        var (shortLived, shortText) = store.Create("temp", ApiRole.Operator, TimeSpan.FromMinutes(5));
        var (_, keptText) = store.Create("kept", ApiRole.Admin, null);
        var (revoked, revokedText) = store.Create("gone", ApiRole.Admin, null);
        Assert.Equal(RevokeOutcome.Revoked, store.Revoke(revoked.Id));
        Assert.Equal(RevokeOutcome.Revoked, store.Revoke(revoked.Id));
        Assert.Equal(RevokeOutcome.Unknown, store.Revoke("000000000000"));
        Assert.Equal(TokenRefusal.Revoked, store.Verify(revokedText).Refusal);
        Assert.Null(store.Verify(shortText).Refusal);

        _now += (long)TimeSpan.FromMinutes(5).TotalMilliseconds;
        Assert.Equal(TokenRefusal.Expired, store.Verify(shortText).Refusal);

        var reopened = Open();
        Assert.Equal(TokenRefusal.Expired, reopened.Verify(shortText).Refusal);
        Assert.Equal(TokenRefusal.Revoked, reopened.Verify(revokedText).Refusal);
        Assert.Null(reopened.Verify(keptText).Refusal);
        Assert.Equal(shortLived.ExpiresUnixMs, reopened.List().Single(t => t.Name == "temp").ExpiresUnixMs);
    }

    [Fact]
    public void Revokes_racing_for_the_last_two_admin_tokens_leave_one_live()
    {
        for (var round = 0; round < 20; round++)
        {
            var store = Open();
            var (a, _) = store.Create($"a{round}", ApiRole.Admin, null);
            var (b, _) = store.Create($"b{round}", ApiRole.Admin, null);
            foreach (var t in store.List().Where(t => t.Id != a.Id && t.Id != b.Id && !t.Revoked)) store.Revoke(t.Id, evenLastAdmin: true);
            var outcomes = new RevokeOutcome[2];
            Parallel.Invoke(() => outcomes[0] = store.Revoke(a.Id), () => outcomes[1] = store.Revoke(b.Id));
            Assert.Single(outcomes, o => o == RevokeOutcome.LastAdmin);
            Assert.True(Open().HasActiveAdmin());
        }
    }

    [Fact]
    public void A_bad_name_or_lifetime_is_refused_by_field_and_stores_nothing()
    {
        var store = Open();
        store.Create("one", ApiRole.Reader, null);
        var before = File.ReadAllBytes(store.FilePath);
        Assert.StartsWith("name:", Assert.Throws<ArgumentException>(() => store.Create("", ApiRole.Reader, null)).Message);
        Assert.StartsWith("name:", Assert.Throws<ArgumentException>(() => store.Create("has space", ApiRole.Reader, null)).Message);
        Assert.StartsWith("name:", Assert.Throws<ArgumentException>(() => store.Create(new string('a', 65), ApiRole.Reader, null)).Message);
        Assert.Contains("exists", Assert.Throws<ArgumentException>(() => store.Create("one", ApiRole.Admin, null)).Message);
        Assert.StartsWith("expiry:", Assert.Throws<ArgumentException>(() => store.Create("two", ApiRole.Reader, TimeSpan.Zero)).Message);
        Assert.Equal(before, File.ReadAllBytes(store.FilePath));
        Assert.Single(store.List());
    }

    [Fact]
    public void The_first_start_writes_one_admin_token_to_a_private_file_and_later_starts_write_none()
    {
        var store = Open();
        var file = Path.Combine(_dir, "keys", "admin.token");
        var id = store.BootstrapAdmin(file);
        Assert.NotNull(id);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var (token, _) = store.Verify(File.ReadAllText(file).Trim());
        Assert.Equal(ApiRole.Admin, token!.Role);
        Assert.Null(Open().BootstrapAdmin(file));

        // Revoked (the last admin gone by hand in the file's history), a start makes a new one: the site is never locked out.
        Assert.Equal(RevokeOutcome.LastAdmin, store.Revoke(id!));
        Assert.Equal(RevokeOutcome.Revoked, store.Revoke(id!, evenLastAdmin: true));
        var reopened = Open();
        Assert.NotNull(reopened.BootstrapAdmin(file));
        Assert.Null(reopened.Verify(File.ReadAllText(file).Trim()).Refusal);
    }

    [Fact]
    public void A_token_a_node_makes_for_its_own_calls_lives_in_memory_only()
    {
        var store = Open();
        var text = store.CreateEphemeral("node-drill-scheduler", ApiRole.Operator);
        Assert.Equal(ApiRole.Operator, store.Verify(text).Token!.Role);
        Assert.Equal(TokenRefusal.Unknown, Open().Verify(text).Refusal);
        Assert.Empty(store.List());
    }

    [Fact]
    public void Roles_include_the_ones_below_them_and_parse_by_their_names()
    {
        Assert.True(ApiRole.Admin.Allows(ApiRole.RecoveryAdmin));
        Assert.True(ApiRole.RecoveryAdmin.Allows(ApiRole.Operator));
        Assert.True(ApiRole.Operator.Allows(ApiRole.Reader));
        Assert.False(ApiRole.Operator.Allows(ApiRole.RecoveryAdmin));
        Assert.False(ApiRole.Reader.Allows(ApiRole.Operator));
        foreach (var name in new[] { "reader", "operator", "recovery-admin", "admin" })
        {
            Assert.True(ApiRoles.TryParse(name, out var role));
            Assert.Equal(name, ApiRoles.Name(role));
        }
        Assert.False(ApiRoles.TryParse("root", out _));
        Assert.False(ApiRoles.TryParse(null, out _));
    }

    static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}

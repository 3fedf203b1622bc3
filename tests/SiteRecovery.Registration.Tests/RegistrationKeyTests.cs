using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Registration keys: signature, 5-day validity, tampering, malformed, foreign and revoked keys.</summary>
public sealed class RegistrationKeyTests
{
    private static readonly long FiveDaysMs = (long)TimeSpan.FromDays(5).TotalMilliseconds;

    private static (VaultState Vault, string Key) IssueKey(long now = T0)
    {
        var (state, events) = Run<VaultState, IVaultCommand, IVaultEvent>(CreatedVault(), new IssueRegistrationKey(Vault, now));
        var issued = Assert.IsType<IssuedRegistrationKey>(state.Reply(new IssueRegistrationKey(Vault, now), events.Count));
        Assert.Equal(1, issued.KeyId);
        Assert.Equal(now + FiveDaysMs, issued.ExpiresAtUnixMs);
        return (state, issued.Key);
    }

    private static RegistrationReply.Refused AssertRefused(VaultState vault, string key, long now, RegistrationRefusal reason)
    {
        var before = Json(vault);
        var refused = vault.ValidateRegistrationKey(key, now);
        Assert.NotNull(refused);
        Assert.Equal(reason, refused.Reason);
        Assert.Contains("RegistrationKey", refused.Message);
        Assert.Equal(before, Json(vault));
        return refused;
    }

    [Fact]
    public void Key_is_valid_from_issue_until_five_days_inclusive_and_expired_one_ms_later()
    {
        var (vault, key) = IssueKey();
        Assert.StartsWith($"srk1.{Vault}.1.{T0}.{T0 + FiveDaysMs}.", key);
        Assert.Null(vault.ValidateRegistrationKey(key, T0));
        Assert.Null(vault.ValidateRegistrationKey(key, T0 + FiveDaysMs - 1));
        Assert.Null(vault.ValidateRegistrationKey(key, T0 + FiveDaysMs));
        var expired = AssertRefused(vault, key, T0 + FiveDaysMs + 1, RegistrationRefusal.KeyExpired);
        Assert.Contains("expired", expired.Message);
    }

    [Fact]
    public void Every_single_character_change_is_refused_and_never_accepted()
    {
        var (vault, key) = IssueKey();
        var vaultField = (Start: 5, End: 5 + Vault.Length);
        var checkedPositions = 0;
        for (var i = 0; i < key.Length; i++)
        {
            if (key[i] == '.') continue;
            foreach (var replacement in Replacements(key[i]))
            {
                var tampered = key[..i] + replacement + key[(i + 1)..];
                var refused = vault.ValidateRegistrationKey(tampered, T0);
                Assert.NotNull(refused);
                if (i >= vaultField.Start && i < vaultField.End)
                {
                    // The key now names another vault: this vault's secret cannot vouch for it.
                    Assert.True(refused.Reason is RegistrationRefusal.KeyForeignVault or RegistrationRefusal.KeyMalformed, $"{i}: {refused}");
                }
                else if (RegistrationKeys.TryParse(tampered, out _) is not null)
                {
                    Assert.Equal(RegistrationRefusal.KeyTampered, refused.Reason);
                }
                else
                {
                    Assert.Equal(RegistrationRefusal.KeyMalformed, refused.Reason);
                }
            }

            checkedPositions++;
        }

        Assert.True(checkedPositions > 60);
    }

    [Fact]
    public void Changing_issued_at_expiry_or_key_id_while_keeping_the_shape_is_KeyTampered()
    {
        var (vault, key) = IssueKey();
        var p = key.Split('.');
        string With(int field, string value) => string.Join('.', p.Select((s, i) => i == field ? value : s));
        AssertRefused(vault, With(4, (T0 + 10 * FiveDaysMs).ToString()), T0 + 6 * FiveDaysMs / 5, RegistrationRefusal.KeyTampered);
        AssertRefused(vault, With(3, (T0 + 1).ToString()), T0, RegistrationRefusal.KeyTampered);
        AssertRefused(vault, With(2, "2"), T0, RegistrationRefusal.KeyTampered);
        // Last signature char changed only in the base64 padding bits still counts as tampering.
        var last = p[5][^1];
        var sameBits = "AEIMQUYcgkosw048"[("AEIMQUYcgkosw048".IndexOf(last) + 1) % 16];
        AssertRefused(vault, With(5, p[5][..^1] + sameBits), T0, RegistrationRefusal.KeyTampered);
    }

    [Theory]
    [InlineData("")]
    [InlineData("srk1")]
    [InlineData("srk2.vault-a.1.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("srk1.vault-a.1.1.2")]
    [InlineData("srk1.vault-a.1.1.2.AAAA.extra")]
    [InlineData("srk1.vault-a.x.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("srk1.vault-a.0.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("srk1.vault-a.01.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("srk1.vault-a.1.-1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("srk1.vault-a.1.1.2.AAAA")]
    [InlineData("srk1.vault-a.1.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+")]
    [InlineData("srk1.1vault.1.1.2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Malformed_keys_are_refused_KeyMalformed(string key)
    {
        var (vault, _) = IssueKey();
        var refused = AssertRefused(vault, key, T0, RegistrationRefusal.KeyMalformed);
        Assert.Contains("malformed", refused.Message);
    }

    [Fact]
    public void Key_of_another_vault_is_refused_KeyForeignVault_even_with_the_same_secret()
    {
        var (vaultA, _) = IssueKey();
        var foreign = RegistrationKeys.Sign(OtherVault, 1, T0, T0 + FiveDaysMs, SecretA);
        var refused = AssertRefused(vaultA, foreign, T0, RegistrationRefusal.KeyForeignVault);
        Assert.Contains(OtherVault, refused.Message);

        // Presented to a vault that does not exist at all.
        AssertRefused(VaultState.Empty(OtherVault), foreign, T0, RegistrationRefusal.KeyForeignVault);
    }

    [Fact]
    public void Revoked_and_never_issued_keys_are_refused_KeyRevoked()
    {
        var (vault, key) = IssueKey();
        var (revoked, _) = Run<VaultState, IVaultCommand, IVaultEvent>(vault, new RevokeRegistrationKey(Vault, 1));
        AssertRefused(revoked, key, T0, RegistrationRefusal.KeyRevoked);
        // Correctly signed (someone holding the secret) but never issued by the vault.
        AssertRefused(vault, RegistrationKeys.Sign(Vault, 2, T0, T0 + FiveDaysMs, SecretA), T0, RegistrationRefusal.KeyRevoked);
        // Revoking twice is a no-op.
        Assert.Empty(revoked.Decide(new RevokeRegistrationKey(Vault, 1)).Events);
    }

    [Fact]
    public void Key_signed_with_another_secret_is_KeyTampered()
    {
        var (vault, _) = IssueKey();
        AssertRefused(vault, RegistrationKeys.Sign(Vault, 1, T0, T0 + FiveDaysMs, SecretB), T0, RegistrationRefusal.KeyTampered);
    }

    [Fact]
    public void Configuration_server_refused_verdicts_persist_nothing_and_keep_the_reason()
    {
        var empty = ConfigurationServerState.Empty(Server);
        foreach (var reason in new[] { RegistrationRefusal.KeyExpired, RegistrationRefusal.KeyTampered, RegistrationRefusal.KeyMalformed, RegistrationRefusal.KeyForeignVault, RegistrationRefusal.KeyRevoked })
        {
            var d = empty.Decide(new RegisterWithVerifiedKey(Server, new(Vault, 1, new(reason, $"RegistrationKey {reason}")), Connectivity.Vpn, Endpoints, T0, P1));
            Assert.Equal(reason, d.Refusal?.Reason);
            Assert.Empty(d.Events);
        }

        // Re-registering with a key of another vault is foreign; with the same vault it is AlreadyExists.
        var registered = RegisteredServer();
        Assert.Equal(RegistrationRefusal.KeyForeignVault,
            registered.Decide(new RegisterWithVerifiedKey(Server, ValidVerdict(OtherVault), Connectivity.Vpn, Endpoints, T0, P2)).Refusal?.Reason);
        Assert.Equal(RegistrationRefusal.AlreadyExists,
            registered.Decide(new RegisterWithVerifiedKey(Server, ValidVerdict(), Connectivity.Vpn, Endpoints, T0, P2)).Refusal?.Reason);
    }

    private static IEnumerable<char> Replacements(char c)
    {
        if (char.IsAsciiDigit(c)) yield return c == '9' ? '1' : (char)(c + 1);
        else if (char.IsAsciiLetterLower(c)) { yield return c == 'z' ? 'a' : (char)(c + 1); yield return char.ToUpperInvariant(c); }
        else if (char.IsAsciiLetterUpper(c)) { yield return c == 'Z' ? 'A' : (char)(c + 1); yield return char.ToLowerInvariant(c); }
        else if (c == '-') yield return '_';
        else if (c == '_') yield return '-';
        else yield return 'x';
    }
}

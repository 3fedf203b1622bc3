using Azure.Core;
using SiteRecovery.Compute.Azure;

namespace SiteRecovery.Compute.Tests.Azure;

/// <summary>
/// The azure target's credential: a Resource Manager token from a private file (read again for every token, so a renewal
/// takes effect at once) or an environment variable; a file others can read, an empty source or one that is not a single
/// token is refused naming the source and never showing its content.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AccessTokenSourceTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-azure-token-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static readonly TokenRequestContext Arm = new(["https://management.azure.com/.default"]);

    string Write(string text, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(_dir, $"token-{Guid.NewGuid():N}");
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void A_private_file_gives_its_token_and_a_renewed_file_the_new_one()
    {
        var path = Write("eyJ0eXAi.first\n");
        var source = AccessTokenSource.FromFile(path);
        Assert.Equal($"token file '{path}'", source.Source);
        Assert.Equal("eyJ0eXAi.first", source.GetToken(Arm, default).Token);
        File.WriteAllText(path, "eyJ0eXAi.renewed");
        Assert.Equal("eyJ0eXAi.renewed", source.GetToken(Arm, default).Token);
    }

    [Fact]
    public void A_file_others_can_read_an_empty_one_or_more_than_one_token_is_refused_without_its_content()
    {
        var open = Write("eyJ0eXAi.secret", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var e = Assert.Throws<ArgumentException>(() => AccessTokenSource.FromFile(open));
        Assert.Equal($"token file '{open}' is readable or writable by others (chmod 600 it): it holds an access token", e.Message);
        var empty = Write("  \n");
        Assert.Equal($"token file '{empty}' is empty or not set", Assert.Throws<ArgumentException>(() => AccessTokenSource.FromFile(empty)).Message);
        var two = Write("Bearer eyJ0eXAi.secret\n");
        var twoError = Assert.Throws<ArgumentException>(() => AccessTokenSource.FromFile(two)).Message;
        Assert.Equal($"token file '{two}' does not hold one bearer token (it has spaces or line breaks; the content is not shown)", twoError);
        var missing = Path.Combine(_dir, "none");
        Assert.Equal($"token file '{missing}' does not exist", Assert.Throws<ArgumentException>(() => AccessTokenSource.FromFile(missing)).Message);
    }

    [Fact]
    public void A_file_opened_to_others_after_the_start_stops_giving_tokens()
    {
        var path = Write("eyJ0eXAi.first");
        var source = AccessTokenSource.FromFile(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var e = Assert.Throws<InvalidOperationException>(() => source.GetToken(Arm, default));
        Assert.DoesNotContain("eyJ0eXAi", e.Message);
    }

    [Fact]
    public void An_environment_variable_gives_its_token_and_an_unset_one_is_refused_by_name()
    {
        var name = $"SR_TEST_ARM_TOKEN_{Guid.NewGuid():N}";
        Assert.Equal($"environment variable ${name} is empty or not set", Assert.Throws<ArgumentException>(() => AccessTokenSource.FromEnvironment(name)).Message);
        Environment.SetEnvironmentVariable(name, "eyJ0eXAi.env");
        try { Assert.Equal("eyJ0eXAi.env", AccessTokenSource.FromEnvironment(name).GetToken(Arm, default).Token); }
        finally { Environment.SetEnvironmentVariable(name, null); }
    }
}

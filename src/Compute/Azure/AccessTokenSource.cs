using Azure.Core;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Compute.Azure;

/// <summary>
/// The Azure target's credential: a Resource Manager access token (a bearer token, as <c>az account get-access-token</c>
/// prints it) kept in a file readable by its owner only, or in an environment variable — never on the command line, never
/// logged. The file is read again for every token the SDK asks for, so whatever renews it (a cron job, a managed
/// identity's sidecar) takes effect without a restart; the SDK is told the token lasts <see cref="Reuse"/> so it asks
/// again that often. Errors name the source, never the content.
/// </summary>
public sealed class AccessTokenSource : TokenCredential
{
    /// <summary>How long a token read from the source is used before the source is read again.</summary>
    public static readonly TimeSpan Reuse = TimeSpan.FromMinutes(1);

    readonly Func<string> _read;

    AccessTokenSource(string source, Func<string> read)
    {
        Source = source;
        _read = read;
    }

    /// <summary>Where the token comes from (a file path or <c>$VARIABLE</c>): safe to log.</summary>
    public string Source { get; }

    /// <summary>A token kept in <paramref name="path"/>, which must exist and be readable by its owner only; checked now and at every read.</summary>
    public static AccessTokenSource FromFile(string path)
    {
        var source = $"token file '{path}'";
        var credential = new AccessTokenSource(source, () =>
        {
            if (!File.Exists(path)) throw new InvalidOperationException($"{source} does not exist");
            if (PrivateFiles.OpenToOthers(path)) throw new InvalidOperationException($"{source} is readable or writable by others (chmod 600 it): it holds an access token");
            try { return Checked(source, File.ReadAllText(path)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new InvalidOperationException($"{source} cannot be read: {e.Message}"); }
        });
        credential.Check();
        return credential;
    }

    /// <summary>A token kept in the environment variable <paramref name="name"/>; checked now.</summary>
    public static AccessTokenSource FromEnvironment(string name)
    {
        var source = $"environment variable ${name}";
        var credential = new AccessTokenSource(source, () => Checked(source, Environment.GetEnvironmentVariable(name) ?? ""));
        credential.Check();
        return credential;
    }

    void Check()
    {
        try { _ = _read(); }
        catch (InvalidOperationException e) { throw new ArgumentException(e.Message); }
    }

    static string Checked(string source, string text)
    {
        var token = text.Trim();
        if (token.Length == 0) throw new InvalidOperationException($"{source} is empty or not set");
        // A header value may not hold a line break or a space: a file of two tokens, or a "Bearer x" line, is not one token.
        if (token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new InvalidOperationException($"{source} does not hold one bearer token (it has spaces or line breaks; the content is not shown)");
        return token;
    }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        new(_read(), DateTimeOffset.UtcNow + Reuse);

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        new(GetToken(requestContext, cancellationToken));
}

using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Connections;

/// <summary>What a registration with a key brought back: the component's certificate and the site authority's, as PEM.</summary>
public sealed record EnrollmentCertificates(string KeySha256, string CertificatePem, string AuthorityPem)
{
    public const string CertificateFileName = "component.crt";
    public const string AuthorityFileName = "site-ca.crt";

    /// <summary>
    /// Keeps both beside the component's key in <paramref name="directory"/> (<see cref="CertificateFileName"/>,
    /// <see cref="AuthorityFileName"/>), each replaced atomically. Certificates are public; the key never leaves its file.
    /// </summary>
    public void Store(string directory)
    {
        PrivateFiles.WriteAtomically(Path.Combine(directory, AuthorityFileName), System.Text.Encoding.ASCII.GetBytes(AuthorityPem));
        PrivateFiles.WriteAtomically(Path.Combine(directory, CertificateFileName), System.Text.Encoding.ASCII.GetBytes(CertificatePem));
    }

    /// <summary>The stored certificate's end, for the log line a registration prints.</summary>
    public DateTime NotAfter => X509Certificate2.CreateFromPem(CertificatePem).NotAfter;
}

/// <summary>
/// A component's side of registering with a configuration server (process servers, master targets and agents alike):
/// ask for a challenge, answer with the passphrase proof (<see cref="PassphraseProof"/>), which also covers the
/// component's public key when one is given, so the site's authority certifies that key. The passphrase never leaves
/// the process. A refusal is an <see cref="InvalidOperationException"/> carrying the configuration server's reason.
/// </summary>
public static class ComponentEnrollment
{
    /// <summary>
    /// Registers <paramref name="componentId"/> as <paramref name="kind"/>; with <paramref name="publicKey"/> (DER
    /// SubjectPublicKeyInfo) returns the certificates the site issued for it, otherwise null.
    /// </summary>
    public static async Task<EnrollmentCertificates?> RegisterAsync(HttpClient http, string configurationServerId, string componentId, ComponentKind kind,
        string passphrase, byte[]? publicKey, CancellationToken ct)
    {
        var challenge = await PostAsync(http, $"api/configuration-servers/{configurationServerId}/challenges", new { componentId, kind = kind.ToString() }, ct);
        var nonce = challenge["nonce"]!.GetValue<string>();
        var keySha256 = publicKey is null ? null : PassphraseProof.KeySha256(publicKey);
        var proof = PassphraseProof.Compute(passphrase, challenge["saltBase64"]!.GetValue<string>(), nonce, componentId,
            challenge["iterations"]!.GetValue<int>(), keySha256);
        var done = await PostAsync(http, $"api/configuration-servers/{configurationServerId}/components",
            new { componentId, nonce, proof, publicKey = publicKey is null ? null : Convert.ToBase64String(publicKey), version = ProductVersion.Current }, ct);
        if (publicKey is null) return null;
        // Over plain http the authority sent is trusted on first use; an https API whose certificate the component trusts
        // (--api-ca-file) pins it.
        return Checked(done, configurationServerId, componentId, keySha256!, null);
    }

    /// <summary>
    /// Renews the certificate of <paramref name="componentId"/> held in <paramref name="directory"/> (its key
    /// <paramref name="key"/>, <see cref="EnrollmentCertificates.CertificateFileName"/> and the authority beside it):
    /// asks the site's authority for a nonce and proves possession of the key by signing it, with no passphrase. The new
    /// certificate is for the same key, with a new serial; it is checked against the authority already stored (a
    /// renewal never changes which authority the component trusts) and returned, not stored.
    /// </summary>
    public static async Task<EnrollmentCertificates> RenewAsync(HttpClient http, string configurationServerId, string componentId, WriterIdentity key,
        string directory, CancellationToken ct)
    {
        string certificatePem, authorityPem;
        try
        {
            certificatePem = await File.ReadAllTextAsync(Path.Combine(directory, EnrollmentCertificates.CertificateFileName), ct);
            authorityPem = await File.ReadAllTextAsync(Path.Combine(directory, EnrollmentCertificates.AuthorityFileName), ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{componentId} has no certificate to renew in '{directory}' ({e.Message}); register it first");
        }
        var challenge = await PostAsync(http, "api/site-authority/challenges", new { configurationServerId, componentId }, ct);
        var nonce = challenge["nonce"]!.GetValue<string>();
        var keySha256 = PassphraseProof.KeySha256(key.PublicKey);
        var signature = Convert.ToBase64String(key.Sign(RenewalProof.Payload(configurationServerId, componentId, nonce, keySha256)));
        var done = await PostAsync(http, "api/site-authority/renew", new { configurationServerId, componentId, nonce, certificatePem, signature, version = ProductVersion.Current }, ct);
        return Checked(done, configurationServerId, componentId, keySha256, authorityPem);
    }

    /// <summary>Whether less than <paramref name="renewBelow"/> of <paramref name="certificate"/>'s lifetime is left at <paramref name="now"/>.</summary>
    public static bool RenewalDue(X509Certificate2 certificate, double renewBelow, DateTimeOffset now)
    {
        var left = certificate.NotAfter.ToUniversalTime() - now.UtcDateTime;
        return left.Ticks < renewBelow * (certificate.NotAfter - certificate.NotBefore).Ticks;
    }

    /// <summary>
    /// Renews and stores the certificate held in <paramref name="directory"/> when less than <paramref name="renewBelow"/>
    /// of its lifetime is left at <paramref name="now"/> (see <see cref="RenewAsync"/>); null when it is not due yet. The
    /// files are replaced atomically: a connection reading them sees the old certificate or the new one, never half of one.
    /// </summary>
    public static async Task<EnrollmentCertificates?> RenewIfDueAsync(HttpClient http, string configurationServerId, string componentId, string directory,
        double renewBelow, DateTimeOffset now, CancellationToken ct)
    {
        using (var current = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(directory, EnrollmentCertificates.CertificateFileName)))
            if (!RenewalDue(current, renewBelow, now)) return null;
        using var key = WriterIdentity.Open(directory);
        var renewed = await RenewAsync(http, configurationServerId, componentId, key, directory, ct);
        renewed.Store(directory);
        return renewed;
    }

    /// <summary>
    /// What an issuance brought back, checked before anything is kept: a certificate for this very key, issued by the
    /// authority sent with it, which must be <paramref name="pinnedAuthorityPem"/> when one is pinned.
    /// </summary>
    static EnrollmentCertificates Checked(JsonNode done, string configurationServerId, string componentId, string keySha256, string? pinnedAuthorityPem)
    {
        if (done["certificatePem"]?.GetValue<string>() is not { } certificate || done["authorityPem"]?.GetValue<string>() is not { } authority)
            throw new InvalidOperationException($"configuration server {configurationServerId} accepted {componentId} but issued no certificate (a node older than this component?)");
        using var issued = X509Certificate2.CreateFromPem(certificate);
        using var root = X509Certificate2.CreateFromPem(authority);
        if (PassphraseProof.KeySha256(issued.PublicKey.ExportSubjectPublicKeyInfo()) != keySha256)
            throw new InvalidOperationException($"configuration server {configurationServerId} returned a certificate for another key than {componentId}'s");
        if (pinnedAuthorityPem is not null)
        {
            using var pinned = X509Certificate2.CreateFromPem(pinnedAuthorityPem);
            if (!pinned.RawData.AsSpan().SequenceEqual(root.RawData))
                throw new InvalidOperationException($"configuration server {configurationServerId} answered with another site authority than the one {componentId} trusts ({pinned.Subject})");
        }
        if (!SiteRecovery.Contracts.Net.CertificateTrust.IssuedToClientBy([root], issued, null))
            throw new InvalidOperationException($"configuration server {configurationServerId} returned a certificate for {componentId} that its site authority did not issue");
        return new EnrollmentCertificates(keySha256, certificate, authority);
    }

    /// <summary>
    /// A client of the configuration node's API at <paramref name="apiUrl"/> for registering and renewing: an https API
    /// is trusted by the system's store and by <paramref name="caFile"/>'s certificates (the one https trust handler).
    /// </summary>
    public static HttpClient ApiClient(string apiUrl, string? caFile) =>
        new(SiteRecovery.Contracts.Net.CertificateTrust.HttpHandler(() => caFile is null ? null : SiteRecovery.Contracts.Net.CertificateTrust.Load(caFile)))
        {
            BaseAddress = new Uri(apiUrl.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>The passphrase in <paramref name="file"/> (the <paramref name="flag"/> option's), trimmed; an <see cref="ArgumentException"/> naming the file when it cannot be read or is empty.</summary>
    public static async Task<string> ReadPassphraseAsync(string flag, string file, CancellationToken ct)
    {
        string passphrase;
        try { passphrase = (await File.ReadAllTextAsync(file, ct)).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ArgumentException($"{flag} '{file}' cannot be read: {e.Message}"); }
        return passphrase.Length > 0 ? passphrase : throw new ArgumentException($"{flag} '{file}' is empty");
    }

    static async Task<JsonNode> PostAsync(HttpClient http, string path, object body, CancellationToken ct)
    {
        HttpResponseMessage response;
        try { response = await http.PostAsJsonAsync(path, body, ct); }
        catch (HttpRequestException e) when (e.InnerException is System.Security.Authentication.AuthenticationException)
        {
            throw new InvalidOperationException($"configuration server API {http.BaseAddress} is not trusted: its certificate is not one the system or the given CA file " +
                $"(srnode --register-ca-file, sragent --api-ca-file; that node's keys/api.crt) trusts ({e.Message})");
        }
        catch (HttpRequestException e) { throw new InvalidOperationException($"configuration server API {http.BaseAddress} not reachable: {e.Message}"); }
        var text = await response.Content.ReadAsStringAsync(ct);
        var node = text.Length > 0 ? JsonNode.Parse(text) : null;
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"{(path.StartsWith("api/site-authority", StringComparison.Ordinal) ? "renewal with the site authority" : "registration with the configuration server")} refused: {node?["error"]?.GetValue<string>() ?? $"HTTP {(int)response.StatusCode}"}");
        return node ?? new JsonObject();
    }
}

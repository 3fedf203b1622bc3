using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Net;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Connections;

/// <summary>
/// Whether a data-path listener speaks TLS: <see cref="Off"/> (plain only), <see cref="Optional"/> (TLS from components
/// that hold a certificate, plain from the others) or <see cref="Required"/> (mutual TLS only: the secure setting).
/// </summary>
public enum HopTlsMode { Off, Optional, Required }

/// <summary>
/// A component's certificate files, kept beside its key by registration (<see cref="EnrollmentCertificates"/>): its key
/// (<see cref="WriterIdentity.KeyFileName"/>), its certificate and the site authority's. Read again at every connection
/// and accept (a few small files), so a renewed certificate or authority takes effect without a restart.
/// </summary>
public sealed class HopCredentials(string directory)
{
    public string Directory { get; } = directory;
    string CertificatePath => Path.Combine(Directory, EnrollmentCertificates.CertificateFileName);
    string AuthorityPath => Path.Combine(Directory, EnrollmentCertificates.AuthorityFileName);
    string KeyPath => Path.Combine(Directory, WriterIdentity.KeyFileName);

    /// <summary>Whether the component holds a certificate (it registered): a connecting side speaks TLS then.</summary>
    public bool HasCertificate => File.Exists(CertificatePath);

    /// <summary>
    /// The certificate with its key and the authority, read now. <see cref="InvalidDataException"/> naming the file when
    /// one is missing, unreadable, open to others (the key) or does not match (a certificate for another key).
    /// </summary>
    public HopCertificate Load()
    {
        if (File.Exists(KeyPath) && PrivateFiles.OpenToOthers(KeyPath))
            throw new InvalidDataException($"key '{KeyPath}' may be read by others than its owner: chmod 600 it (and consider it leaked)");
        X509Certificate2 certificate;
        try { certificate = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"certificate '{CertificatePath}' with key '{KeyPath}' cannot be used: {e.Message} (register the component again)");
        }
        X509Certificate2Collection authority;
        try { authority = CertificateTrust.Load(AuthorityPath); }
        catch (InvalidOperationException e)
        {
            certificate.Dispose();
            throw new InvalidDataException(e.Message);
        }
        return new HopCertificate(certificate, authority);
    }

    public override string ToString() => Directory;
}

/// <summary>A component's certificate (with its private key) and the site authority it chains to, as read for one connection.</summary>
public sealed class HopCertificate(X509Certificate2 certificate, X509Certificate2Collection authority) : IDisposable
{
    public X509Certificate2 Certificate { get; } = certificate;
    public X509Certificate2Collection Authority { get; } = authority;

    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var c in Authority) c.Dispose();
    }
}

/// <summary>A connecting side's TLS: its own credentials, and whom it expects to reach.</summary>
public sealed record HopClientTls(HopCredentials Own, ExpectedPeer Expected)
{
    /// <summary>The TLS of a component whose certificate lies beside its writer key; null for a key held in memory only.</summary>
    public static HopClientTls? Of(WriterIdentity writer, ExpectedPeer expected) =>
        writer.Directory is { } d ? new HopClientTls(new HopCredentials(d), expected) : null;
}

/// <summary>
/// A listener's TLS: its mode, its own credentials, the one kind of component it serves, and an optional further check
/// of each certified peer (a refusal reason, e.g. revoked, or null), consulted at every accept.
/// </summary>
public sealed record HopListenerTls(HopTlsMode Mode, HopCredentials? Own, ComponentKind Serves, Func<HopPeer, string?>? Check = null);

/// <summary>
/// Mutual TLS 1.3 on a data-path hop, both ends: each side presents the certificate the site authority issued it and
/// accepts only a chain that ends at that authority (custom root trust: the machine's store is never consulted, so a
/// certificate from a public CA is no credential here). Identity is read from the certificate (<see cref="HopPeer"/>);
/// the connecting side also pins whom it expects (<see cref="ExpectedPeer"/>). Host names play no part: components are
/// named by their certificate's <c>urn:siterecovery:KIND:ID</c>, not by where they run.
/// </summary>
public static class HopTls
{
    /// <summary>The first byte of a TLS connection (a handshake record): how a listener tells TLS from a plain hello.</summary>
    public const byte HandshakeRecord = 0x16;

    const SslProtocols Protocols = SslProtocols.Tls13;

    // The client does not check host names (see the class); SNI needs some name.
    const string TargetHost = "siterecovery";

    /// <summary>
    /// The accepting side's handshake over <paramref name="transport"/>: the authenticated stream (a
    /// <see cref="GatheringSslStream"/> over a <see cref="TlsTransport"/>) and the peer its certificate names.
    /// <see cref="HopRefusedException"/> naming why when the client presents no certificate, one the site authority did
    /// not issue, or one that names no component.
    /// </summary>
    public static async Task<(SslStream Stream, HopPeer Peer)> AcceptAsync(Stream transport, HopCertificate own, CancellationToken ct)
    {
        string? problem = null;
        var ssl = GatheringSslStream.Over(transport);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = SslStreamCertificateContext.Create(own.Certificate, null, offline: true),
                ClientCertificateRequired = true,
                EnabledSslProtocols = Protocols,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                AllowRenegotiation = false,
                RemoteCertificateValidationCallback = (_, presented, chain, _) => (problem = ClientProblem(own.Authority, presented, chain)) is null,
            }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new HopRefusedException(HopRefusal.NotCertified, problem ?? $"TLS handshake failed: {e.Message}");
        }
        return (ssl, PeerOf(ssl)!);
    }

    /// <summary>
    /// The connecting side's handshake: presents <paramref name="own"/>, accepts only a server certified by the same
    /// authority and naming <paramref name="expected"/> (over a <see cref="TlsTransport"/>, a <see cref="GatheringSslStream"/>).
    /// <see cref="IOException"/> naming <paramref name="peer"/> and why otherwise (a reconnect loop retries it: a renewed
    /// certificate or a corrected setting needs no restart).
    /// </summary>
    public static async Task<(SslStream Stream, HopPeer Peer)> ConnectAsync(Stream transport, HopCertificate own, ExpectedPeer expected, string peer, CancellationToken ct)
    {
        string? problem = null;
        var ssl = GatheringSslStream.Over(transport);
        try { await ssl.AuthenticateAsClientAsync(ClientOptions(own, expected, p => problem = p), ct).ConfigureAwait(false); }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw ClientFailure(peer, problem, e);
        }
        return (ssl, PeerOf(ssl)!);
    }

    /// <summary>The blocking form of <see cref="ConnectAsync"/>, for the control links' own threads.</summary>
    public static (SslStream Stream, HopPeer Peer) Connect(Stream transport, HopCertificate own, ExpectedPeer expected, string peer)
    {
        string? problem = null;
        var ssl = GatheringSslStream.Over(transport);
        try { ssl.AuthenticateAsClient(ClientOptions(own, expected, p => problem = p)); }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            ssl.Dispose();
            throw ClientFailure(peer, problem, e);
        }
        return (ssl, PeerOf(ssl)!);
    }

    static SslClientAuthenticationOptions ClientOptions(HopCertificate own, ExpectedPeer expected, Action<string?> problem) => new()
    {
        TargetHost = TargetHost,
        ClientCertificateContext = SslStreamCertificateContext.Create(own.Certificate, null, offline: true),
        EnabledSslProtocols = Protocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        RemoteCertificateValidationCallback = (_, presented, chain, _) =>
        {
            var p = ServerProblem(own.Authority, presented, chain, expected);
            problem(p);
            return p is null;
        },
    };

    static IOException ClientFailure(string peer, string? problem, Exception e) => new(problem is not null
        ? $"{peer} is refused: {problem}"
        : $"TLS with {peer} failed: {e.Message} (a listener with siterecovery.data-path.tls = off, or without a certificate of its own, does not speak TLS; one that requires it refuses a certificate the site authority did not issue)", e);

    /// <summary>Why a client's certificate is not a credential of this site, or null when it is.</summary>
    internal static string? ClientProblem(X509Certificate2Collection authority, System.Security.Cryptography.X509Certificates.X509Certificate? presented, X509Chain? chain)
    {
        if (presented is not X509Certificate2 certificate) return $"no client certificate ({HopRefusal.NotCertified}): register the component with the site";
        if (!CertificateTrust.IssuedToClientBy(authority, certificate, chain?.ChainElements.Select(e => e.Certificate)))
            return $"certificate '{certificate.Subject}' was not issued by this site's authority, or is expired ({HopRefusal.NotCertified})";
        return HopPeer.From(certificate) is null ? $"certificate '{certificate.Subject}' names no site component ({HopRefusal.NotCertified})" : null;
    }

    /// <summary>Why a server's certificate is not the expected component of this site, or null when it is.</summary>
    internal static string? ServerProblem(X509Certificate2Collection authority, System.Security.Cryptography.X509Certificates.X509Certificate? presented, X509Chain? chain, ExpectedPeer expected)
    {
        if (presented is not X509Certificate2 certificate) return $"it presented no certificate ({HopRefusal.NotCertified})";
        if (!CertificateTrust.IssuedToServerBy(authority, certificate, chain?.ChainElements.Select(e => e.Certificate)))
            return $"its certificate '{certificate.Subject}' was not issued by this site's authority, or is expired ({HopRefusal.NotCertified})";
        return expected.Problem(HopPeer.From(certificate));
    }

    static HopPeer? PeerOf(SslStream ssl) => ssl.RemoteCertificate switch
    {
        X509Certificate2 c => HopPeer.From(c),
        { } c => HopPeer.From(X509CertificateLoader.LoadCertificate(c.GetRawCertData())),
        null => null,
    };
}

/// <summary>A connection refused for its transport or certificate, with the reason named (<see cref="HopRefusal"/>).</summary>
public sealed class HopRefusedException(HopRefusal reason, string message) : IOException(message)
{
    public HopRefusal Reason { get; } = reason;
}

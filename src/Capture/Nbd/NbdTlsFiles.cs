using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Net;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// <see cref="NbdTls"/> from three PEM files an operator names with a family of flags: <c>PREFIX-certificate</c> (the
/// server's certificate, optionally followed by its intermediates), <c>PREFIX-key</c> (its private key, a file only this
/// user may read) and <c>PREFIX-client-ca</c> (the CAs whose client certificates are accepted). Every error names the
/// flag and the file.
/// </summary>
public static class NbdTlsFiles
{
    /// <summary>Null when none of the three is given (TLS off); an <see cref="ArgumentException"/> when only some are.</summary>
    public static NbdTls? FromFlags(string prefix, string? certificate, string? key, string? clientCa)
    {
        (string Flag, string? File)[] given = [($"{prefix}-certificate", certificate), ($"{prefix}-key", key), ($"{prefix}-client-ca", clientCa)];
        if (given.All(g => g.File is null)) return null;
        if (given.Any(g => g.File is null))
            throw new ArgumentException($"{string.Join(", ", given.Select(g => g.Flag))}: give all three or none " +
                $"(missing {string.Join(", ", given.Where(g => g.File is null).Select(g => g.Flag))})");
        return Load(prefix, certificate!, key!, clientCa!);
    }

    static NbdTls Load(string prefix, string certificate, string key, string clientCa)
    {
        var keyFlag = $"{prefix}-key";
        if (!File.Exists(key)) throw new ArgumentException($"{keyFlag} '{key}' does not exist");
        if (PrivateFiles.OpenToOthers(key))
            throw new ArgumentException($"{keyFlag} '{key}' may be read or written by other users; it is the NBD server's private key: chmod 600 it");

        X509Certificate2Collection chain = [];
        X509Certificate2 served;
        try
        {
            chain.ImportFromPemFile(certificate);
            using var withKey = X509Certificate2.CreateFromPemFile(certificate, key);
            // A certificate made from PEM holds an ephemeral key; re-importing it as PKCS#12 gives the key a form every
            // TLS backend accepts.
            served = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ArgumentException($"{prefix}-certificate '{certificate}' with {keyFlag} '{key}' cannot be used: {e.Message}");
        }
        if (!served.HasPrivateKey) throw new ArgumentException($"{keyFlag} '{key}' holds no private key for {prefix}-certificate '{certificate}'");
        var intermediates = new X509Certificate2Collection();
        foreach (var c in chain)
            if (c.Thumbprint != served.Thumbprint) intermediates.Add(c);

        X509Certificate2Collection authorities;
        try { authorities = CertificateTrust.Load(clientCa); }
        catch (InvalidOperationException e) { throw new ArgumentException($"{prefix}-client-ca: {e.Message}"); }
        return new NbdTls(served, intermediates, authorities);
    }
}

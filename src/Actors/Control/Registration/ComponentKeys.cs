using System.Security.Cryptography;

namespace SiteRecovery.Actors.Control.Registration;

/// <summary>
/// The public keys the site's authority certifies: ECDSA on P-256 or P-384 (an agent's writer key is P-256), or RSA of at
/// least 2048 bits, as a DER SubjectPublicKeyInfo in base64. Anything else is refused before a proof is checked.
/// </summary>
public static class ComponentKeys
{
    /// <summary>The most base64 a public key may take: an RSA-8192 key's SubjectPublicKeyInfo is about 1.4 KB.</summary>
    const int MaxBase64 = 2048;

    /// <summary>Why <paramref name="base64"/> is not a key the authority certifies, or null when it is.</summary>
    public static string? Problem(string base64)
    {
        if (base64.Length == 0) return "is empty";
        if (base64.Length > MaxBase64) return $"is {base64.Length} characters long, more than any supported key ({MaxBase64})";
        byte[] der;
        try { der = Convert.FromBase64String(base64); }
        catch (FormatException) { return "is not base64"; }
        using (var ec = ECDsa.Create())
        {
            try
            {
                ec.ImportSubjectPublicKeyInfo(der, out var read);
                if (read != der.Length) return "has bytes after its SubjectPublicKeyInfo";
                var curve = ec.ExportParameters(false).Curve;
                return curve.Oid.Value is "1.2.840.10045.3.1.7" or "1.3.132.0.34"
                    ? null
                    : $"is an ECDSA key on curve {curve.Oid.FriendlyName ?? curve.Oid.Value}; P-256 or P-384 is required";
            }
            catch (CryptographicException) { }
        }
        using var rsa = RSA.Create();
        try
        {
            rsa.ImportSubjectPublicKeyInfo(der, out var read);
            if (read != der.Length) return "has bytes after its SubjectPublicKeyInfo";
            return rsa.KeySize >= 2048 ? null : $"is an RSA key of {rsa.KeySize} bits; at least 2048 are required";
        }
        catch (CryptographicException)
        {
            return "is not a SubjectPublicKeyInfo of an ECDSA or RSA public key";
        }
    }
}

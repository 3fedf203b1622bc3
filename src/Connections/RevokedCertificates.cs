using System.Collections.Immutable;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SiteRecovery.Connections;

/// <summary>
/// The certificates of the site that a data-path listener must no longer serve: the serials of the site authority's
/// certificate revocation list (an X.509 CRL, which the configuration node serves and signs), taken in only when its
/// signature is the authority's. Read from any thread (one immutable set swapped whole); loaded by one.
/// A listener consults <see cref="Check"/> at every accept; a new list says which serials it added, so live sessions of
/// those certificates can be closed at once.
/// </summary>
public sealed class RevokedCertificates
{
    ImmutableHashSet<string> _serials = ImmutableHashSet.Create<string>(StringComparer.OrdinalIgnoreCase);
    DateTimeOffset? _thisUpdate;

    /// <summary>When the list in use was issued; null before the first one was loaded.</summary>
    public DateTimeOffset? ThisUpdate => _thisUpdate;

    public int Count => Volatile.Read(ref _serials).Count;

    /// <summary>Why <paramref name="peer"/> must be refused as revoked, or null: a listener's peer check.</summary>
    public string? Check(HopPeer peer) =>
        peer.SerialHex.Length > 0 && Volatile.Read(ref _serials).Contains(peer.SerialHex)
            ? $"certificate {peer.SerialHex} of {peer} is revoked (site revocation list of {_thisUpdate:u})"
            : null;

    /// <summary>
    /// Takes in the CRL <paramref name="crl"/> (DER) after checking it: signed by <paramref name="authority"/>'s key
    /// (ECDSA with SHA-256), issued by it, and not older than the list in use. Returns the serials it revokes that the
    /// previous list did not. Throws <see cref="InvalidDataException"/> naming what is wrong, and keeps the list in use.
    /// </summary>
    public IReadOnlyList<string> Load(ReadOnlySpan<byte> crl, X509Certificate2 authority)
    {
        var (thisUpdate, serials) = Parse(crl, authority);
        if (_thisUpdate is { } current && thisUpdate < current)
            throw new InvalidDataException($"the revocation list of {thisUpdate:u} is older than the one in use ({current:u})");
        var before = Volatile.Read(ref _serials);
        var next = ImmutableHashSet.CreateRange(StringComparer.OrdinalIgnoreCase, serials);
        _thisUpdate = thisUpdate;
        Volatile.Write(ref _serials, next);
        return [.. next.Except(before)];
    }

    const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";

    /// <summary>The CRL's issue time and revoked serials (upper-case hex), once its issuer and signature are <paramref name="authority"/>'s.</summary>
    static (DateTimeOffset ThisUpdate, List<string> Serials) Parse(ReadOnlySpan<byte> crl, X509Certificate2 authority)
    {
        try
        {
            var list = new AsnReader(crl.ToArray(), AsnEncodingRules.DER).ReadSequence();
            var tbsBytes = list.PeekEncodedValue().ToArray();
            var tbs = list.ReadSequence();
            var algorithm = list.ReadSequence().ReadObjectIdentifier();
            var signature = list.ReadBitString(out _);
            if (algorithm != EcdsaWithSha256) throw new InvalidDataException($"it is signed with {algorithm}, not ECDSA with SHA-256");
            using var key = authority.GetECDsaPublicKey() ?? throw new InvalidDataException("the site authority's certificate holds no ECDSA key");
            if (!key.VerifyData(tbsBytes, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence))
                throw new InvalidDataException("its signature is not the site authority's");

            if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer)) tbs.ReadInteger(); // version
            tbs.ReadSequence(); // signature algorithm, repeated inside
            var issuer = tbs.ReadEncodedValue();
            if (!issuer.Span.SequenceEqual(authority.SubjectName.RawData))
                throw new InvalidDataException($"it was issued by {new X500DistinguishedName(issuer.Span).Name}, not by the site authority {authority.Subject}");
            var thisUpdate = ReadTime(tbs);
            if (tbs.HasData && (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) || tbs.PeekTag().HasSameClassAndValue(Asn1Tag.GeneralizedTime))) ReadTime(tbs); // nextUpdate
            var serials = new List<string>();
            if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                var revoked = tbs.ReadSequence();
                while (revoked.HasData)
                {
                    var entry = revoked.ReadSequence();
                    serials.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
                }
            }
            return (thisUpdate, serials);
        }
        catch (Exception e) when (e is AsnContentException or CryptographicException)
        {
            throw new InvalidDataException($"not a readable revocation list: {e.Message}");
        }
    }

    static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
}

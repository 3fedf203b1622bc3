using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Connections;

/// <summary>
/// Who is at the other end of a data-path hop, as its certificate says (issued by the site authority at registration):
/// the component's kind and id from the subject alternative name <c>urn:siterecovery:KIND:ID</c>, and the SHA-256 of its
/// public key (the same fingerprint as a writer's, <see cref="HelloSignature.Fingerprint"/>). Read from a certificate
/// that has already been checked against the site authority; the name in a hello is only ever compared with it.
/// </summary>
public sealed record HopPeer(ComponentKind Kind, string Id, string KeySha256)
{
    /// <summary>The certificate's serial number in hex, as the site's revocation list names it ("" when not read from a certificate).</summary>
    public string SerialHex { get; init; } = "";

    // Equal peers are the same identity: a renewed certificate (another serial) proves the same component.
    public bool Equals(HopPeer? other) => other is not null && Kind == other.Kind && Id == other.Id && KeySha256 == other.KeySha256;

    public override int GetHashCode() => HashCode.Combine(Kind, Id, KeySha256);

    const string UriPrefix = "urn:siterecovery:";
    static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>The kind as certificates and messages spell it (<c>agent</c>, <c>processserver</c>, <c>mastertarget</c>).</summary>
    public static string KindName(ComponentKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>The identity <paramref name="certificate"/> names, or null when it names no site component (no, or more than one, such URI).</summary>
    public static HopPeer? From(X509Certificate2 certificate)
    {
        var uris = Uris(certificate).Where(u => u.StartsWith(UriPrefix, StringComparison.Ordinal)).ToList();
        if (uris.Count != 1) return null;
        var rest = uris[0][UriPrefix.Length..];
        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == rest.Length - 1) return null;
        var kind = Enum.GetValues<ComponentKind>().Where(k => KindName(k) == rest[..colon]).Cast<ComponentKind?>().FirstOrDefault();
        return kind is null ? null : new HopPeer(kind.Value, rest[(colon + 1)..], HelloSignature.Fingerprint(certificate.PublicKey.ExportSubjectPublicKeyInfo()))
        {
            SerialHex = certificate.SerialNumber,
        };
    }

    // .NET reads DNS names and addresses from the extension, not URIs: GeneralNames is read here (RFC 5280 4.2.1.6).
    static IEnumerable<string> Uris(X509Certificate2 certificate)
    {
        var found = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != "2.5.29.17") continue;
            try
            {
                var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag() == UriTag) found.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                    else names.ReadEncodedValue();
                }
            }
            catch (AsnContentException) { return []; }
        }
        return found;
    }

    public override string ToString() => $"{KindName(Kind)} {Id} (key {HelloSignature.Short(KeySha256)})";
}

/// <summary>Whom a connecting side expects at the other end: a kind, and an id where it is known (a pin).</summary>
public sealed record ExpectedPeer(ComponentKind Kind, string? Id = null)
{
    /// <summary>Why <paramref name="peer"/> is not the expected one, or null when it is.</summary>
    public string? Problem(HopPeer? peer) =>
        peer is null ? $"its certificate names no site component (expected {HopPeer.KindName(Kind)}{(Id is null ? "" : " " + Id)})"
        : peer.Kind != Kind ? $"its certificate is for {peer}, not a {HopPeer.KindName(Kind)} ({HopRefusal.WrongRole})"
        : Id is not null && peer.Id != Id ? $"its certificate is for {peer}, not {HopPeer.KindName(Kind)} {Id} ({HopRefusal.WrongIdentity})"
        : null;

    public override string ToString() => Id is null ? $"any {HopPeer.KindName(Kind)} of the site" : $"{HopPeer.KindName(Kind)} {Id}";
}

/// <summary>Why a hop refused a connection on the grounds of its transport or certificate; said by name in the refusal and the log.</summary>
public enum HopRefusal
{
    /// <summary>A plain connection at a listener that requires TLS.</summary>
    TlsRequired,
    /// <summary>A TLS connection at a listener with TLS off, or without a certificate of its own.</summary>
    TlsNotOffered,
    /// <summary>No client certificate, or one the site authority did not issue (another CA, expired, not for client use).</summary>
    NotCertified,
    /// <summary>A certificate of the site for another kind of component than this listener or link serves.</summary>
    WrongRole,
    /// <summary>A certificate of the expected kind for another component than the one pinned.</summary>
    WrongIdentity,
    /// <summary>The hello names another source than the certificate, or another machine's disk, or a writer key that is not the certified key.</summary>
    NotTheCertifiedComponent,
    /// <summary>The listener's own check refused the certificate (e.g. revoked).</summary>
    Refused,
}

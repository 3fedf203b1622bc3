using System.Collections.Immutable;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Access;

/// <summary>A revoked certificate: which (serial, issuer), whose, why and since when; until <see cref="NotAfterUnixMs"/> it would otherwise be valid.</summary>
public sealed record Revocation(string SerialHex, string Issuer, string ConfigurationServerId, string ComponentId, CertificateRevocationReason Reason,
    long AtUnixMs, long NotAfterUnixMs);

/// <summary>
/// The site's revoked certificates, as the journal records them (<see cref="ComponentCertificatesRevoked"/>, fed by
/// <see cref="RevocationFeed"/>): what a listener consults for each peer certificate. Read from any thread without a lock
/// (one immutable map swapped whole); fed from one. A certificate is named by its serial and its issuer, since serials
/// are only unique per issuer. Entries stay after the certificate ends: an ended certificate is refused anyway, and the
/// list of a site stays small (a component's revocations happen when it is removed or re-registered).
/// </summary>
public sealed class RevocationList
{
    ImmutableDictionary<(string Serial, string Issuer), Revocation> _revoked = ImmutableDictionary<(string, string), Revocation>.Empty;
    long _eventsSeen;

    /// <summary>The revocation of certificate <paramref name="serialHex"/> of <paramref name="issuer"/>, or null when it is not revoked.</summary>
    public Revocation? Find(string serialHex, string issuer) =>
        Volatile.Read(ref _revoked).TryGetValue((serialHex.ToUpperInvariant(), issuer), out var r) ? r : null;

    /// <summary>Why <paramref name="peer"/> must be refused as revoked, or null: the shape a listener's peer check takes.</summary>
    public string? Check(X509Certificate2 peer) =>
        Find(peer.SerialNumber, peer.IssuerName.Name) is { } r
            ? $"certificate {r.SerialHex} of {r.ComponentId} was revoked at {DateTimeOffset.FromUnixTimeMilliseconds(r.AtUnixMs):u} ({r.Reason})"
            : null;

    /// <summary>Every revocation, newest first.</summary>
    public IReadOnlyList<Revocation> All => [.. Volatile.Read(ref _revoked).Values.OrderByDescending(r => r.AtUnixMs).ThenBy(r => r.SerialHex, StringComparer.Ordinal)];

    /// <summary>How many journal events were read into the list (a test's or a probe's view of its progress).</summary>
    public long EventsSeen => Interlocked.Read(ref _eventsSeen);

    /// <summary>Takes a journal event in (the feed's one writer); events other than revocations are ignored.</summary>
    public void Apply(object journalEvent)
    {
        Interlocked.Increment(ref _eventsSeen);
        if (journalEvent is not ComponentCertificatesRevoked e) return;
        var next = Volatile.Read(ref _revoked);
        foreach (var c in e.Certificates)
            if (!next.ContainsKey((c.SerialHex, c.Issuer)))
                next = next.Add((c.SerialHex, c.Issuer), new Revocation(c.SerialHex, c.Issuer, e.ServerId, e.ComponentId, e.Reason, e.AtUnixMs, c.NotAfterUnixMs));
        Volatile.Write(ref _revoked, next);
    }
}

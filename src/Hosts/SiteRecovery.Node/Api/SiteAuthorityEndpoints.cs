using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node.Access;

namespace SiteRecovery.Node.Api;

/// <summary>
/// The site authority's certificates after registration: their renewal by proof of possession of a current certificate's
/// key (no passphrase: a nonce from the configuration server, signed with the key; a new serial is journaled, then
/// signed), the list of revoked certificates (<see cref="RevocationList"/>), and a component's removal, which revokes
/// its certificates. Refusals name the reason (<see cref="RegistrationRefusal"/>) and store nothing.
/// </summary>
public static class SiteAuthorityEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public sealed record RenewalChallengeBody(string? ConfigurationServerId, string? ComponentId);
    /// <summary><paramref name="Signature"/>: base64 of the certificate key's signature over <see cref="RenewalProof.Payload"/>.</summary>
    public sealed record RenewBody(string? ConfigurationServerId, string? ComponentId, string? Nonce, string? CertificatePem, string? Signature, string? NewPublicKey = null,
        string? Version = null);
    public sealed record RenewedCertificate(string ConfigServerId, string ComponentId, ComponentKind Kind, string SerialHex, string KeySha256,
        string CertificatePem, string AuthorityPem);

    public static void Map(WebApplication app, NodeOptions options, SiteAuthority? authority, ApiSettings settings, RevocationList revocations)
    {
        var api = app.MapGroup("/api");
        api.AddEndpointFilter(async (ctx, next) => options.Roles.HasFlag(NodeRoles.Configuration) && authority is not null
            ? await next(ctx)
            : Results.BadRequest(new ApiError("this node has no site authority (it does not run the configuration role)")));

        api.MapGet("/site-authority/revoked", () => Results.Ok(new
        {
            issuer = authority!.Issuer,
            revoked = revocations.All.Select(r => new
            {
                serial = r.SerialHex, issuer = r.Issuer, configurationServer = r.ConfigurationServerId, component = r.ComponentId, reason = r.Reason.ToString(),
                revokedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.AtUnixMs), notAfter = DateTimeOffset.FromUnixTimeMilliseconds(r.NotAfterUnixMs),
            }),
        }));

        // The data-path nodes fetch it and refuse (and cut) sessions of the certificates it names: public, as any CRL.
        api.MapGet("/site-authority/crl", () => Results.File(
            authority!.RevocationList(revocations.All, revocations.All.Count, DateTimeOffset.UtcNow, settings.RevocationListValidity), "application/pkix-crl"));

        api.MapPost("/site-authority/challenges", async (RenewalChallengeBody body, ActorRegistry r) =>
        {
            if (body.ConfigurationServerId is null || body.ComponentId is null) return Results.BadRequest(new ApiError("configurationServerId and componentId: required"));
            return ControlPlaneEndpoints.Reply(await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(
                new BeginRenewal(body.ConfigurationServerId, body.ComponentId, Now), AskTimeout));
        });

        api.MapPost("/site-authority/renew", async (RenewBody body, ActorRegistry r) =>
        {
            if (body.ConfigurationServerId is null || body.ComponentId is null || body.Nonce is null || body.CertificatePem is null || body.Signature is null)
                return Results.BadRequest(new ApiError("configurationServerId, componentId, nonce, certificatePem and signature: required"));
            X509Certificate2 presented;
            try { presented = X509Certificate2.CreateFromPem(body.CertificatePem); }
            catch (CryptographicException e) { return Results.BadRequest(new ApiError($"certificatePem: not a PEM certificate ({e.Message})")); }
            using (presented)
            {
                var presentedKey = presented.PublicKey.ExportSubjectPublicKeyInfo();
                // The serial is journaled with the decision, before the certificate is signed, so it can be revoked.
                var plan = authority!.Plan(DateTimeOffset.UtcNow, settings.ComponentCertificateLifetime);
                var reply = await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(new RenewCertificate(body.ConfigurationServerId, body.ComponentId,
                    body.Nonce, presented.SerialNumber, presented.IssuerName.Name, Convert.ToBase64String(presentedKey), body.Signature, body.NewPublicKey, plan, Now,
                    body.Version is null ? null : new ReportedVersions(body.Version, ProductVersion.Current)), AskTimeout);
                if (reply is not CertificateRenewed renewed) return ControlPlaneEndpoints.Reply(reply);
                var key = body.NewPublicKey is null ? presentedKey : Convert.FromBase64String(body.NewPublicKey);
                using var certificate = authority.Issue(renewed.ComponentId, renewed.Kind, key, plan);
                return Results.Ok(new RenewedCertificate(renewed.ConfigServerId, renewed.ComponentId, renewed.Kind, renewed.SerialHex, renewed.KeySha256,
                    certificate.ExportCertificatePem(), authority.CertificatePem));
            }
        });

        api.MapDelete("/configuration-servers/{id}/components/{componentId}", async (string id, string componentId, ActorRegistry r) =>
            ControlPlaneEndpoints.Reply(await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(new RemoveComponent(id, componentId, Now), AskTimeout)));
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node.Access;

namespace SiteRecovery.Node.Api;

/// <summary>
/// <c>POST /api/machines/{id}/placement</c>: where a machine's disks are placed, for the machine's own agent. The agent has
/// no token; its credential is its certificate (issued by this site's authority, kind agent, not revoked, still valid) and
/// a signature with its key over <see cref="PlacementProof.Payload"/>. The certificate's id decides: an agent reads its own
/// machine's placement only (another machine's is 403 with the reason). The process server's data-path address is this
/// node's own process server's, or one of the other nodes' listed in <see cref="PlacementTargets"/>.
/// </summary>
public static class PlacementEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);

    /// <summary><paramref name="Signature"/>: base64 of the certificate key's signature over <see cref="PlacementProof.Payload"/>.</summary>
    public sealed record PlacementBody(string? ComponentId, string? CertificatePem, long? SignedAtUnixMs, string? Signature);

    public static void Map(WebApplication app, NodeOptions options, SiteAuthority? authority, RevocationList revocations, DataPathService dataPath, PlacementTargets targets)
    {
        app.MapPost("/api/machines/{id}/placement", async (string id, PlacementBody body, HttpContext http, ActorRegistry r) =>
        {
            if (!options.Roles.HasFlag(NodeRoles.Configuration) || authority is null)
                return Results.BadRequest(new ApiError("this node has no site authority (it does not run the configuration role)"));
            if (body.ComponentId is null || body.CertificatePem is null || body.SignedAtUnixMs is null || body.Signature is null)
                return Results.BadRequest(new ApiError("componentId, certificatePem, signedAtUnixMs and signature: required"));
            X509Certificate2 presented;
            try { presented = X509Certificate2.CreateFromPem(body.CertificatePem); }
            catch (CryptographicException e) { return Results.BadRequest(new ApiError($"certificatePem: not a PEM certificate ({e.Message})")); }
            using (presented)
            {
                if (Refusal(presented, id, body, authority, revocations) is { } refused)
                    return Results.Json(new ApiError($"placement of machine {id}: {refused}"), statusCode: StatusCodes.Status401Unauthorized);
                var peer = HopPeer.From(presented)!;
                if (peer.Id != id)
                    return Results.Json(new ApiError($"the certificate of agent {peer.Id} may read machine {peer.Id}'s placement only, not machine {id}'s"),
                        statusCode: StatusCodes.Status403Forbidden);
                var view = await r.Get<ProtectedMachinesRegion>().Ask<ProtectedMachineView>(new GetProtectedMachine(id), AskTimeout);
                return Results.Ok(AgentPlacement.Of(id, view, ps => targets.ProcessServers.GetValueOrDefault(ps) ?? AddressOf(ps, dataPath, http)));
            }
        });
    }

    /// <summary>
    /// Why the presented certificate and proof are no credential, or null. The proof covers the machine asked for, so a
    /// proven agent asking for another machine is told it may not (403) rather than that its proof failed.
    /// </summary>
    static string? Refusal(X509Certificate2 presented, string machineId, PlacementBody body, SiteAuthority authority, RevocationList revocations)
    {
        if (!SiteRecovery.Contracts.Net.CertificateTrust.IssuedToClientBy([authority.Certificate], presented, null))
            return "the certificate was not issued by this site's authority, or is not valid now";
        if (HopPeer.From(presented) is not { Kind: ComponentKind.Agent } peer)
            return "the certificate is not an agent's";
        if (peer.Id != body.ComponentId) return $"the certificate is agent {peer.Id}'s, not {body.ComponentId}'s";
        if (revocations.Check(presented) is { } revoked) return revoked;
        if (PlacementProof.Stale(body.SignedAtUnixMs!.Value, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) is { } stale) return stale;
        return RenewalProof.Verify(presented.PublicKey.ExportSubjectPublicKeyInfo(), PlacementProof.Payload(peer.Id, machineId, body.SignedAtUnixMs.Value), body.Signature)
            ? null : "the signature is not the certificate key's over this request";
    }

    /// <summary>
    /// The data-path address of process server <paramref name="processServerId"/> as the agent can dial it: this node's own
    /// process server's listen address, its host replaced by the one the agent reached this API at when it listens on any.
    /// </summary>
    static string? AddressOf(string processServerId, DataPathService dataPath, HttpContext http)
    {
        if (processServerId != dataPath.ProcessServerId || dataPath.Process?.BoundEndpoint is not { } bound) return null;
        var host = bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any) ? http.Request.Host.Host : bound.Address.ToString();
        return $"{host}:{bound.Port}";
    }
}

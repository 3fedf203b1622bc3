using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Actors.Control.Registration;

using SiteRecovery.Actors.Placement;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Api;

/// <summary>
/// What an operator sets up before replication starts: vaults and registration keys, configuration
/// servers, protection groups, machines (discover, validate, enable protection with placement) and
/// capacity planning. Request bodies are the contract records themselves; every rejection comes back
/// with the actor's message naming the field and the rule, and writes nothing.
/// </summary>
public static class ControlPlaneEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public sealed record CreateVaultBody(string? Name, VaultRegion? Region);
    public sealed record RegisterConfigurationServerBody(string? Id, string? RegistrationKey, Connectivity? Connectivity, string[]? Endpoints);
    public sealed record ChallengeBody(string? ComponentId, ComponentKind? Kind);
    /// <summary><paramref name="PublicKey"/>: base64 DER SubjectPublicKeyInfo of the key the site's authority is to certify (the proof covers it).</summary>
    /// <summary><paramref name="Version"/>: the component's <see cref="ProductVersion"/> (null: a component from before versions were reported).</summary>
    public sealed record ProofBody(string? ComponentId, string? Nonce, string? Proof, string? PublicKey = null, string? Version = null);
    public sealed record EnableBody(double? ChurnMBps, string[]? MasterTargets, string[]? ProcessServers);

    /// <summary>A registration's answer when the site's authority certified the component's key.</summary>
    public sealed record CertifiedRegistration(string ConfigServerId, string ComponentId, ComponentKind Kind, long RegisteredAtUnixMs, string KeySha256,
        string CertificatePem, string AuthorityPem);

    public static void Map(WebApplication app, NodeOptions options, Func<string> masterTargetId, Func<string> processServerId,
        SiteRecovery.Node.Access.SiteAuthority? authority, SiteRecovery.Node.Access.ApiSettings apiSettings)
    {
        var api = app.MapGroup("/api");
        api.AddEndpointFilter(async (ctx, next) => options.Roles.HasFlag(NodeRoles.Configuration)
            ? await next(ctx)
            : Results.BadRequest(new ApiError("this node does not run the configuration role")));

        api.MapPost("/vaults", async (CreateVaultBody body, ActorRegistry r) =>
        {
            if (body.Name is null) return Results.BadRequest(new ApiError("name: required"));
            if (body.Region is null) return Results.BadRequest(new ApiError($"region: required, one of {string.Join(", ", Enum.GetNames<VaultRegion>())}"));
            return Reply(await r.Get<VaultsRegion>().Ask<RegistrationReply>(new CreateVault(body.Name, body.Region.Value), AskTimeout));
        });
        api.MapGet("/vaults", async (ActorRegistry r) => Results.Ok(await r.Get<VaultDirectory>().Ask<VaultList>(ListVaults.Instance, AskTimeout)));
        api.MapGet("/vaults/{name}", async (string name, ActorRegistry r) => Results.Ok(await r.Get<VaultsRegion>().Ask<VaultView>(new GetVault(name), AskTimeout)));
        api.MapPost("/vaults/{name}/keys", async (string name, ActorRegistry r) =>
            Reply(await r.Get<VaultsRegion>().Ask<RegistrationReply>(new IssueRegistrationKey(name, Now), AskTimeout)));

        api.MapPost("/configuration-servers", async (RegisterConfigurationServerBody body, ActorRegistry r) =>
        {
            if (body.Id is null || body.RegistrationKey is null) return Results.BadRequest(new ApiError("id and registrationKey: required"));
            var command = new RegisterConfigurationServer(body.Id, body.RegistrationKey, body.Connectivity ?? Connectivity.Internet, body.Endpoints ?? [], Now);
            return Reply(await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(command, AskTimeout));
        });
        // Component registration without sending the passphrase: ask for a challenge (nonce + PBKDF2 salt),
        // answer with HMAC(PBKDF2(passphrase, salt), nonce ‖ componentId) — see PassphraseProof.Compute.
        api.MapPost("/configuration-servers/{id}/challenges", async (string id, ChallengeBody body, ActorRegistry r) =>
        {
            if (body.ComponentId is null || body.Kind is null) return Results.BadRequest(new ApiError("componentId and kind (ProcessServer or MasterTarget): required"));
            return Reply(await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(new BeginRegistration(id, body.ComponentId, body.Kind.Value, Now), AskTimeout));
        });
        api.MapPost("/configuration-servers/{id}/components", async (string id, ProofBody body, ActorRegistry r) =>
        {
            if (body.ComponentId is null || body.Nonce is null || body.Proof is null) return Results.BadRequest(new ApiError("componentId, nonce and proof: required"));
            if (body.PublicKey is not null && authority is null)
                return Results.BadRequest(new ApiError("publicKey: this node has no site authority (it does not run the configuration role)"));
            // The certificate's serial is journaled with the registration, before it is signed, so it can be revoked.
            var plan = body.PublicKey is null ? null : authority!.Plan(DateTimeOffset.UtcNow, apiSettings.ComponentCertificateLifetime);
            var reply = await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(new CompleteRegistration(id, body.ComponentId, body.Nonce, body.Proof, Now, body.PublicKey, plan,
                body.Version is null ? null : new ReportedVersions(body.Version, ProductVersion.Current)), AskTimeout);
            // Certified only after the configuration server accepted a proof that covers this very key.
            if (reply is not ComponentRegistrationCompleted { KeySha256: { } keySha256 } done || body.PublicKey is null) return Reply(reply);
            using var certificate = authority!.Issue(done.ComponentId, done.Kind, Convert.FromBase64String(body.PublicKey), plan!);
            return Results.Ok(new CertifiedRegistration(done.ConfigServerId, done.ComponentId, done.Kind, done.RegisteredAtUnixMs, keySha256,
                certificate.ExportCertificatePem(), authority.CertificatePem));
        });
        api.MapGet("/site-authority", () => authority is null
            ? Results.NotFound(new ApiError("this node has no site authority (it does not run the configuration role)"))
            : Results.Ok(new { certificatePem = authority.CertificatePem, sha256 = authority.Certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256).ToLowerInvariant(),
                subject = authority.Certificate.Subject, notAfter = authority.Certificate.NotAfter.ToUniversalTime() }));
        api.MapPost("/configuration-servers/{id}/passphrase", async (string id, ActorRegistry r) =>
            Reply(await r.Get<ConfigurationServersRegion>().Ask<RegistrationReply>(new RegeneratePassphrase(id, Now), AskTimeout)));
        api.MapGet("/configuration-servers/{id}", async (string id, ActorRegistry r) =>
            Results.Ok(await r.Get<ConfigurationServersRegion>().Ask<ConfigurationServerView>(new GetConfigurationServer(id), AskTimeout) with { Version = ProductVersion.Current }));

        api.MapPost("/protection-groups", async (CreateProtectionGroup body, ActorRegistry r) =>
            Result(await r.Get<ProtectionGroupsRegion>().Ask<CommandResult>(body, AskTimeout)));
        api.MapPut("/protection-groups/{id}/settings", async (string id, ReplicationSettings settings, ActorRegistry r) =>
            Result(await r.Get<ProtectionGroupsRegion>().Ask<CommandResult>(new ChangeReplicationSettings(id, settings), AskTimeout)));
        api.MapPost("/protection-groups/{id}/machines/{machine}", async (string id, string machine, ActorRegistry r) =>
            Result(await r.Get<ProtectionGroupsRegion>().Ask<CommandResult>(new AddMachine(id, machine), AskTimeout)));
        api.MapGet("/protection-groups/{id}", async (string id, ActorRegistry r) =>
            Results.Ok(await r.Get<ProtectionGroupsRegion>().Ask<ProtectionGroupView>(new GetProtectionGroup(id), AskTimeout)));

        api.MapPost("/machines", async (DiscoverMachine body, ActorRegistry r) =>
            Result(await r.Get<ProtectedMachinesRegion>().Ask<CommandResult>(body, AskTimeout)));
        api.MapGet("/machines/{id}", async (string id, ActorRegistry r) =>
            Results.Ok(await r.Get<ProtectedMachinesRegion>().Ask<ProtectedMachineView>(new GetProtectedMachine(id), AskTimeout)));
        api.MapGet("/machines/{id}/validation", async (string id, ActorRegistry r) =>
        {
            var view = await r.Get<ProtectedMachinesRegion>().Ask<ProtectedMachineView>(new GetProtectedMachine(id), AskTimeout);
            return view.Properties is null
                ? Results.NotFound(new ApiError($"machine {id} is not discovered"))
                : Results.Ok(MachineValidation.Validate(view.Properties));
        });
        api.MapPost("/machines/{id}/enable", async (string id, EnableBody? body, ActorRegistry r) =>
        {
            var command = new EnableMachineProtection(id, body?.ChurnMBps ?? 1,
                body?.MasterTargets is { Length: > 0 } mts ? mts : [masterTargetId()],
                body?.ProcessServers is { Length: > 0 } pss ? pss : [processServerId()]);
            return await r.Get<ProtectionOrchestrator>().Ask<EnableMachineProtectionResult>(command, AskTimeout) switch
            {
                EnableMachineProtectionResult.Enabled e => Results.Ok(e),
                EnableMachineProtectionResult.Failed f => Results.Conflict(new ApiError(f.Message)),
                var other => Results.Ok(other),
            };
        });
        api.MapPost("/machines/{id}/failover-properties", async (string id, ChangeFailoverProperties body, ActorRegistry r) =>
            Result(await r.Get<ProtectedMachinesRegion>().Ask<CommandResult>(body with { MachineId = id }, AskTimeout)));

        api.MapPost("/capacity-plan", (CapacityPlanRequestBody body) =>
        {
            try { return Results.Ok(CapacityPlanner.Recommend(body.Machines ?? [], body.Options ?? new CapacityPlanOptions())); }
            catch (ArgumentException e) { return Results.BadRequest(new ApiError(e.Message)); }
        });
    }

    public sealed record CapacityPlanRequestBody(IReadOnlyList<PlannedMachine>? Machines, CapacityPlanOptions? Options);

    internal static IResult Result(CommandResult r) => r switch
    {
        CommandResult.Accepted a => Results.Ok(new { accepted = true, events = a.EventCount }),
        CommandResult.Rejected { Reason: RejectionReason.NotRegistered } x => Results.NotFound(new ApiError(x.Message)),
        CommandResult.Rejected { Reason: RejectionReason.AlreadyRegistered or RejectionReason.Conflict or RejectionReason.InvalidState } x => Results.Conflict(new ApiError(x.Message)),
        CommandResult.Rejected x => Results.BadRequest(new ApiError(x.Message)),
        _ => Results.StatusCode(500),
    };

    internal static IResult Reply(RegistrationReply r) => r switch
    {
        RegistrationReply.Refused { Reason: RegistrationRefusal.NotFound } x => Results.NotFound(new ApiError(x.Message)),
        RegistrationReply.Refused { Reason: RegistrationRefusal.AlreadyExists } x => Results.Conflict(new ApiError(x.Message)),
        RegistrationReply.Refused { Reason: RegistrationRefusal.ComponentNewer } x => Results.Conflict(new ApiError(x.Message)),
        RegistrationReply.Refused x => Results.BadRequest(new ApiError($"{x.Reason}: {x.Message}")),
        _ => Results.Ok(r),
    };
}

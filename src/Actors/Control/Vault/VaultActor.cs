using Akka.Actor;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Vault;

/// <summary>
/// Event-sourced Vault entity (persistence id <c>vault-{name}</c>). Generates the signing secret for
/// <see cref="CreateVault"/>, answers <see cref="VerifyRegistrationKey"/> with the pure state check, and announces
/// itself to the <see cref="VaultDirectoryActor"/> after creation and after every recovery of a created vault
/// (so a lost announcement heals the next time the vault starts; the directory ignores repeats).
/// </summary>
public sealed class VaultActor : AggregateActor<VaultState, IVaultCommand, IVaultEvent>
{
    public const string PersistenceIdPrefix = "vault-";
    private readonly IActorRef? _directory;

    public VaultActor(string vaultName, EntitySettings settings, IActorRef? directory)
        : base(PersistenceIdPrefix + vaultName, VaultState.Empty(vaultName), settings)
    {
        _directory = directory;
        Command<CreateVault>(c => ExecuteLater(new CreateVaultWithSecret(c.VaultName, c.Region, Secrets.NewVaultSecret()), Sender));
        Command<GetVault>(_ => Sender.Tell(State.ToView()));
        Command<VerifyRegistrationKey>(v =>
        {
            var refusal = State.ValidateRegistrationKey(v.Key, v.NowUnixMs);
            var keyId = RegistrationKeys.TryParse(v.Key, out _)?.KeyId ?? 0;
            Sender.Tell(new RegistrationKeyVerdict(State.VaultName, keyId, refusal));
        });
    }

    public static Props Props(string vaultName, EntitySettings settings, IActorRef? directory = null) =>
        Akka.Actor.Props.Create(() => new VaultActor(vaultName, settings, directory));

    protected override void OnReplaySuccess()
    {
        base.OnReplaySuccess();
        Announce();
    }

    protected override void OnPersisted(IReadOnlyList<IVaultEvent> events)
    {
        if (events.Any(e => e is VaultCreated)) Announce();
    }

    // Told without a sender: the directory's answer would only be an unhandled message here.
    private void Announce()
    {
        if (State.Created && State.Region is { } region) _directory?.Tell(new RecordVault(State.VaultName, region), ActorRefs.NoSender);
    }
}

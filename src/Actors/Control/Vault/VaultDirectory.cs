using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Vault;

/// <summary>Sent by a vault actor to the directory; recording a known vault again is a no-op.</summary>
public sealed record RecordVault(string VaultName, VaultRegion Region);

/// <summary>Pure state of the singleton directory of created vaults.</summary>
[Manifest("vault-directory-state.v1")]
public sealed record VaultDirectoryState(ImmutableSortedDictionary<string, VaultRegion> Vaults) : IControlSnapshot
{
    public static VaultDirectoryState Empty { get; } = new(ImmutableSortedDictionary.Create<string, VaultRegion>(StringComparer.Ordinal));

    public RegistrationDecision<VaultListed> Decide(RecordVault command)
    {
        if (RegistrationRules.VaultName(nameof(RecordVault), nameof(command.VaultName), command.VaultName) is { } bad)
            return RegistrationDecision<VaultListed>.Refuse(bad);
        return Vaults.ContainsKey(command.VaultName)
            ? RegistrationDecision<VaultListed>.NoOp
            : RegistrationDecision<VaultListed>.Accept(new VaultListed(command.VaultName, command.Region));
    }

    public VaultDirectoryState Apply(VaultListed e) => this with { Vaults = Vaults.SetItem(e.VaultName, e.Region) };
}

/// <summary>Persistent singleton (persistence id <c>vault-directory</c>) listing the created vaults; answers <see cref="ListVaults"/>.</summary>
public sealed class VaultDirectoryActor : ReceivePersistentActor
{
    public const string SingletonPersistenceId = "vault-directory";
    private readonly EntitySettings _settings;
    private VaultDirectoryState _state = VaultDirectoryState.Empty;

    public VaultDirectoryActor(EntitySettings settings)
    {
        _settings = settings;
        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is VaultDirectoryState s) _state = s;
        });
        Recover<VaultListed>(e => _state = _state.Apply(e));

        Command<RecordVault>(c =>
        {
            var decision = _state.Decide(c);
            PersistAll(decision.Events, persisted =>
            {
                _state = _state.Apply(persisted);
                if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(_state);
            });
        });
        Command<ListVaults>(_ => Sender.Tell(new VaultList(_state.Vaults.Keys.ToList())));
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(_ => { });
    }

    public override string PersistenceId => SingletonPersistenceId;

    public static Props Props(EntitySettings settings) => Akka.Actor.Props.Create(() => new VaultDirectoryActor(settings));
}

using System.Collections.Immutable;
using Akka.Actor;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Vault;

/// <summary>Sent by a vault actor to the directory; recording a known vault again is a no-op.</summary>
public sealed record RecordVault(string VaultName, VaultRegion Region);

/// <summary>Pure state of the singleton directory of created vaults.</summary>
[Manifest("vault-directory-state.v1")]
public sealed record VaultDirectoryState(ImmutableSortedDictionary<string, VaultRegion> Vaults)
    : IControlSnapshot, IRegistrationState<VaultDirectoryState, RecordVault, VaultListed>
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

    public RegistrationReply Reply(RecordVault command, int eventCount) => new RegistrationReply.Accepted(eventCount);
}

/// <summary>Persistent singleton (persistence id <c>vault-directory</c>) listing the created vaults; answers <see cref="ListVaults"/>.</summary>
public sealed class VaultDirectoryActor : AggregateActor<VaultDirectoryState, RecordVault, VaultListed>
{
    public const string SingletonPersistenceId = "vault-directory";

    // A singleton has no region to ask for passivation: it lives as long as the node.
    public VaultDirectoryActor(EntitySettings settings)
        : base(SingletonPersistenceId, VaultDirectoryState.Empty, settings with { PassivateAfter = null })
    {
        Command<ListVaults>(_ => Sender.Tell(new VaultList(State.Vaults.Keys.ToList())));
    }

    public static Props Props(EntitySettings settings) => Akka.Actor.Props.Create(() => new VaultDirectoryActor(settings));
}

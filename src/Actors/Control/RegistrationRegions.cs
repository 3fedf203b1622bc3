using Akka.Actor;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control;

/// <summary>ActorRegistry key of the Vault region: <c>registry.Get&lt;VaultsRegion&gt;()</c>.</summary>
public sealed class VaultsRegion
{
    private VaultsRegion() { }

    public static Props Props(EntitySettings settings, IActorRef? directory) =>
        EntityRegion.Props(typeof(IVaultMessage), id => VaultActor.Props(id, settings, directory));
}

/// <summary>ActorRegistry key of the singleton vault directory: <c>registry.Get&lt;VaultDirectory&gt;()</c>; ask it <see cref="ListVaults"/>.</summary>
public sealed class VaultDirectory
{
    private VaultDirectory() { }

    public static Props Props(EntitySettings settings) => VaultDirectoryActor.Props(settings);
}

/// <summary>ActorRegistry key of the ConfigurationServer region: <c>registry.Get&lt;ConfigurationServersRegion&gt;()</c>.</summary>
public sealed class ConfigurationServersRegion
{
    private ConfigurationServersRegion() { }

    public static Props Props(EntitySettings settings, IActorRef vaults) =>
        EntityRegion.Props(typeof(IConfigurationServerMessage), id => ConfigurationServerActor.Props(id, settings, vaults));
}

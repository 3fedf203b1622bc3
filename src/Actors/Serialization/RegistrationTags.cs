using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Serialization;

/// <summary>Journal tags of the registration area (vaults, vault directory, configuration servers).</summary>
public static class RegistrationTags
{
    public const string Vault = "vault";
    public const string VaultDirectory = "vault-directory";
    public const string ConfigurationServer = "configuration-server";

    public static IReadOnlySet<string> For(IRegistrationEvent @event) => @event switch
    {
        IVaultEvent => new HashSet<string> { Vault },
        VaultListed => new HashSet<string> { VaultDirectory },
        IConfigurationServerEvent => new HashSet<string> { ConfigurationServer },
        _ => new HashSet<string>(),
    };
}

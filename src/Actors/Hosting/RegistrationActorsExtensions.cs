using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.Registration;

namespace SiteRecovery.Actors.Hosting;

public static class RegistrationActorsExtensions
{
    /// <summary>
    /// Starts the vault directory (singleton), the vault region and the configuration-server region, registered in the
    /// ActorRegistry under <see cref="VaultDirectory"/>, <see cref="VaultsRegion"/> and <see cref="ConfigurationServersRegion"/>.
    /// Binds the control-plane serializer too (idempotent with <see cref="SiteRecoveryAkkaExtensions.AddControlPlaneActors"/>).
    /// </summary>
    public static AkkaConfigurationBuilder AddRegistrationActors(this AkkaConfigurationBuilder b, EntitySettings? s = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        var entity = s ?? EntitySettings.Default;
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, registry) =>
        {
            var directory = system.ActorOf(VaultDirectory.Props(entity), "vault-directory");
            var vaults = system.ActorOf(VaultsRegion.Props(entity, directory), "vaults");
            registry.Register<VaultDirectory>(directory);
            registry.Register<VaultsRegion>(vaults);
            registry.Register<ConfigurationServersRegion>(system.ActorOf(ConfigurationServersRegion.Props(entity, vaults), "configuration-servers"));
        });
    }
}

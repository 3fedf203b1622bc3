using Akka.Hosting;
using Akka.Persistence.Hosting;
using Akka.Persistence.Sql.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Hosting;

public static class SiteRecoveryAkkaExtensions
{
    /// <summary>
    /// Akka.Persistence.Sql journal + snapshot store (default plugins, tables auto-created) for the given settings,
    /// with the tagging write adapter on every <see cref="IControlEvent"/>. (The serializer binding is added by
    /// <see cref="AddControlPlaneActors"/>, or by <see cref="AddSiteRecoverySerialization"/> on its own.)
    /// Validates the provider and connects once before Akka starts; failures throw <see cref="PersistenceStartupException"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddSiteRecoveryPersistence(this AkkaConfigurationBuilder b, PersistenceSettings s)
    {
        ArgumentNullException.ThrowIfNull(b);
        PersistenceStartupCheck.EnsureUsable(s);

        return b.WithSqlPersistence(
            connectionString: s.ConnectionString,
            providerName: s.Linq2DbProviderName,
            mode: PersistenceMode.Both,
            autoInitialize: true,
            journalBuilder: journal => journal.AddWriteEventAdapter<ControlEventTagger>(
                ControlEventTagger.AdapterName, [typeof(IControlEvent)]));
    }

    /// <summary>Binds <see cref="IControlEvent"/> and <see cref="IControlSnapshot"/> to <see cref="ControlJsonSerializer"/>.</summary>
    public static AkkaConfigurationBuilder AddSiteRecoverySerialization(this AkkaConfigurationBuilder b) =>
        b.WithCustomSerializer(
            ControlJsonSerializer.SerializerName,
            [typeof(IControlEvent), typeof(IControlSnapshot)],
            system => new ControlJsonSerializer(system));

    /// <summary>
    /// Starts the three entity regions and registers them in the ActorRegistry under the keys
    /// <see cref="ProtectedDisksRegion"/>, <see cref="ProcessServersRegion"/>, <see cref="MasterTargetsRegion"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddControlPlaneActors(this AkkaConfigurationBuilder b, EntitySettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        var entity = settings ?? EntitySettings.Default;
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, registry) =>
        {
            registry.Register<ProtectedDisksRegion>(system.ActorOf(ProtectedDisksRegion.Props(entity), "protected-disks"));
            registry.Register<ProcessServersRegion>(system.ActorOf(ProcessServersRegion.Props(entity), "process-servers"));
            registry.Register<MasterTargetsRegion>(system.ActorOf(MasterTargetsRegion.Props(entity), "master-targets"));
        });
    }
}

using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.ProtectedMachine;

namespace SiteRecovery.Actors.Hosting;

public static class ProtectionActorsExtensions
{
    /// <summary>
    /// Starts the ProtectionGroup and ProtectedMachine regions and the <see cref="ProtectionOrchestrator"/>, registered
    /// in the ActorRegistry under <see cref="ProtectionGroupsRegion"/>, <see cref="ProtectedMachinesRegion"/> and
    /// <see cref="ProtectionOrchestrator"/>, and the recovery plans: the <see cref="RecoveryPlanDirectory"/> singleton and
    /// the <see cref="RecoveryPlansRegion"/>. Call after <see cref="SiteRecoveryAkkaExtensions.AddControlPlaneActors"/>:
    /// the orchestrator uses its master-target and process-server regions, and it binds the event serializer.
    /// </summary>
    public static AkkaConfigurationBuilder AddProtectionActors(this AkkaConfigurationBuilder b, EntitySettings? s = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        var entity = s ?? EntitySettings.Default;
        return b.WithActors((system, registry) =>
        {
            if (!registry.TryGet<MasterTargetsRegion>(out var masterTargets) || !registry.TryGet<ProcessServersRegion>(out var processServers))
                throw new InvalidOperationException(
                    "AddProtectionActors needs the master-target and process-server regions: call AddControlPlaneActors before AddProtectionActors");

            registry.Register<ProtectionGroupsRegion>(system.ActorOf(ProtectionGroupsRegion.Props(entity), "protection-groups"));
            var machines = system.ActorOf(ProtectedMachinesRegion.Props(entity), "protected-machines");
            registry.Register<ProtectedMachinesRegion>(machines);
            registry.Register<ProtectionOrchestrator>(system.ActorOf(
                ProtectionOrchestrator.Props(machines, masterTargets, processServers), "protection-orchestrator"));
            var planDirectory = system.ActorOf(RecoveryPlanDirectory.Props(entity), "recovery-plan-directory");
            registry.Register<RecoveryPlanDirectory>(planDirectory);
            registry.Register<RecoveryPlansRegion>(system.ActorOf(RecoveryPlansRegion.Props(entity, planDirectory), "recovery-plans"));
        });
    }
}

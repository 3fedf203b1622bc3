using Akka.Persistence.Journal;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Serialization;

/// <summary>Journal tags used by read models (EventsByTag).</summary>
public static class ControlTags
{
    public const string Disk = "disk";
    public const string RecoveryPoint = "recovery-point";
    public const string ProcessServer = "process-server";
    public const string MasterTarget = "master-target";

    public static IReadOnlySet<string> For(object @event) => @event switch
    {
        RecoveryPointRecorded => new HashSet<string> { Disk, RecoveryPoint },
        IProtectedDiskEvent => new HashSet<string> { Disk },
        IProcessServerEvent => new HashSet<string> { ProcessServer },
        IMasterTargetEvent => new HashSet<string> { MasterTarget },
        IRegistrationEvent e => RegistrationTags.For(e),
        IProtectionGroupEvent => new HashSet<string> { ProtectionTags.ProtectionGroup },
        IProtectedMachineEvent => new HashSet<string> { ProtectionTags.ProtectedMachine },
        IRecoveryPlanEvent => new HashSet<string> { ProtectionTags.RecoveryPlan },
        IRecoveryPlanDirectoryEvent => new HashSet<string> { ProtectionTags.RecoveryPlanDirectory },
        IAlertEvent => new HashSet<string> { Alerts.AlertTags.Alert },
        _ => new HashSet<string>(),
    };
}

/// <summary>Write event adapter wrapping every <see cref="IControlEvent"/> in <see cref="Tagged"/>.</summary>
public sealed class ControlEventTagger : IWriteEventAdapter
{
    public const string AdapterName = "siterecovery-control-tagger";

    public string Manifest(object evt) => string.Empty;

    public object ToJournal(object evt)
    {
        var tags = ControlTags.For(evt);
        return tags.Count == 0 ? evt : new Tagged(evt, tags);
    }
}

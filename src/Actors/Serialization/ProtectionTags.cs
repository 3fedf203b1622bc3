namespace SiteRecovery.Actors.Serialization;

/// <summary>Journal tags of the protection aggregates (see <see cref="ControlTags.For"/>).</summary>
public static class ProtectionTags
{
    public const string ProtectionGroup = "protection-group";
    public const string ProtectedMachine = "protected-machine";
    public const string RecoveryPlan = "recovery-plan";
    public const string RecoveryPlanDirectory = "recovery-plan-directory";
}

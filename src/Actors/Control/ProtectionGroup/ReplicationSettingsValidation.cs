using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectionGroup;

/// <summary>
/// Limits of <see cref="ReplicationSettings"/>; <see cref="Validate"/> returns every broken rule, each message
/// naming the field and the rule.
/// <list type="table">
/// <item><term>RetentionWindow</term><description>&gt; 0 and ≤ 15 days</description></item>
/// <item><term>RpoThreshold</term><description>&gt; 0 and ≤ 24 hours</description></item>
/// <item><term>AppConsistentFrequency</term><description>0 (off) or 1 hour … 12 hours, and ≤ RetentionWindow</description></item>
/// </list>
/// </summary>
public static class ReplicationSettingsValidation
{
    public static readonly TimeSpan MaxRetention = TimeSpan.FromDays(15);
    public static readonly TimeSpan MaxRpoThreshold = TimeSpan.FromHours(24);
    public static readonly TimeSpan MinAppConsistentFrequency = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaxAppConsistentFrequency = TimeSpan.FromHours(12);

    public static IReadOnlyList<string> Validate(ReplicationSettings? settings, string command)
    {
        if (settings is null) return [$"{command}.Settings must be non-null"];
        var failures = new List<string>();
        var prefix = $"{command}.Settings";

        if (settings.RetentionWindow <= TimeSpan.Zero)
            failures.Add($"{prefix}.RetentionWindow must be > 0 (was {settings.RetentionWindow})");
        else if (settings.RetentionWindow > MaxRetention)
            failures.Add($"{prefix}.RetentionWindow must be <= {MaxRetention.TotalDays} days (was {settings.RetentionWindow})");

        if (settings.RpoThreshold <= TimeSpan.Zero)
            failures.Add($"{prefix}.RpoThreshold must be > 0 (was {settings.RpoThreshold})");
        else if (settings.RpoThreshold > MaxRpoThreshold)
            failures.Add($"{prefix}.RpoThreshold must be <= {MaxRpoThreshold.TotalHours} hours (was {settings.RpoThreshold})");

        var app = settings.AppConsistentFrequency;
        if (app != TimeSpan.Zero)
        {
            if (app < MinAppConsistentFrequency || app > MaxAppConsistentFrequency)
                failures.Add($"{prefix}.AppConsistentFrequency must be 0 (off) or between {MinAppConsistentFrequency.TotalHours} and {MaxAppConsistentFrequency.TotalHours} hours (was {app})");
            else if (settings.RetentionWindow > TimeSpan.Zero && app > settings.RetentionWindow)
                failures.Add($"{prefix}.AppConsistentFrequency must be <= RetentionWindow {settings.RetentionWindow} (was {app})");
        }

        return failures;
    }
}

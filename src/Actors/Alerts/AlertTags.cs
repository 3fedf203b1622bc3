namespace SiteRecovery.Actors.Alerts;

/// <summary>Journal tag of the alert events (see <c>ControlTags.For</c>).</summary>
public static class AlertTags
{
    public const string Alert = "alert";
}

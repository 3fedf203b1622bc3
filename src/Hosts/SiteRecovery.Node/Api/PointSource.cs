namespace SiteRecovery.Node.Api;

/// <summary>Where POST /api/recover and POST /api/disks/{id}/exports read a point from (their <c>from</c>).</summary>
public enum PointSource
{
    /// <summary>The master target's retention: its base image, checkpoints and journal (the default).</summary>
    Retention,
    /// <summary>Blob storage: the replica's page-blob snapshot at or below the point, then the journal's records after it.</summary>
    Snapshot,
}

public static class PointSources
{
    /// <summary>The source <paramref name="from"/> names (absent: <see cref="PointSource.Retention"/>); null with <paramref name="refusal"/> naming what is wrong.</summary>
    public static PointSource? Parse(string? from, out string? refusal)
    {
        refusal = null;
        switch (from)
        {
            case null or "retention": return PointSource.Retention;
            case "snapshot": return PointSource.Snapshot;
            default:
                refusal = $"from: '{from}' is not a source of points; give \"retention\" (the master target's base image and journal, the default) " +
                          "or \"snapshot\" (the replica's page-blob snapshot in blob storage and the journal after it)";
                return null;
        }
    }

    public static string Name(PointSource source) => source == PointSource.Snapshot ? "snapshot" : "retention";
}

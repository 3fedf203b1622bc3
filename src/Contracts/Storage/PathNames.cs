namespace SiteRecovery.Contracts.Storage;

/// <summary>Names that become one folder or file name under a data directory (a disk's, a job's, a machine's).</summary>
public static class PathNames
{
    /// <summary>True when <paramref name="name"/> is one path component: not blank, no separator or invalid character, not "." or "..".</summary>
    public static bool IsOneComponent(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && name is not ("." or "..");
}

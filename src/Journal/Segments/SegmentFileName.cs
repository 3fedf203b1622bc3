using System.Globalization;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// File names carry the sequence range so the log can be indexed from a directory listing alone:
/// active <c>{first:D20}.open</c>, sealed <c>{first:D20}-{last:D20}.seg</c>. D20 keeps lexical order = numeric order.
/// </summary>
internal static class SegmentFileName
{
    public const string OpenExtension = ".open";
    public const string SealedExtension = ".seg";

    public static string Open(long first) => first.ToString("D20", CultureInfo.InvariantCulture) + OpenExtension;

    public static string Sealed(long first, long last)
        => first.ToString("D20", CultureInfo.InvariantCulture) + "-" + last.ToString("D20", CultureInfo.InvariantCulture) + SealedExtension;

    /// <summary>Parses a name; returns false for files that are not segments (ignored by the log).</summary>
    public static bool TryParse(string name, out long first, out long last, out bool isSealed)
    {
        first = last = 0;
        isSealed = false;
        if (name.EndsWith(OpenExtension, StringComparison.Ordinal) && name.Length == 20 + OpenExtension.Length)
        {
            last = -1;
            return long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out first) && first >= 1;
        }
        if (name.EndsWith(SealedExtension, StringComparison.Ordinal) && name.Length == 41 + SealedExtension.Length && name[20] == '-')
        {
            isSealed = true;
            return long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out first)
                && long.TryParse(name.AsSpan(21, 20), NumberStyles.None, CultureInfo.InvariantCulture, out last)
                && first >= 1 && last >= first;
        }
        return false;
    }
}

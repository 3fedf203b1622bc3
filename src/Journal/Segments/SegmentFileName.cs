using System.Globalization;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// File names carry the sequence range so the log can be indexed from a directory listing alone:
/// active <c>{first:D20}.open</c>, sealed <c>{first:D20}-{last:D20}.seg</c>. D20 keeps lexical order = numeric order.
/// A log that recycles its files names them <c>.sopen</c> / <c>.sseg</c> ("salted": frame hashes seeded with the
/// first sequence), and parks trimmed files for reuse as <c>{id:D20}.free</c>, which are not segments.
/// </summary>
internal static class SegmentFileName
{
    public const string OpenExtension = ".open";
    public const string SealedExtension = ".seg";
    public const string SaltedOpenExtension = ".sopen";
    public const string SaltedSealedExtension = ".sseg";
    public const string FreeExtension = ".free";

    public static string Open(long first, bool salted = false)
        => first.ToString("D20", CultureInfo.InvariantCulture) + (salted ? SaltedOpenExtension : OpenExtension);

    public static string Sealed(long first, long last, bool salted = false)
        => first.ToString("D20", CultureInfo.InvariantCulture) + "-" + last.ToString("D20", CultureInfo.InvariantCulture)
           + (salted ? SaltedSealedExtension : SealedExtension);

    public static string Free(long id) => id.ToString("D20", CultureInfo.InvariantCulture) + FreeExtension;

    /// <summary>Parses a name; returns false for files that are not segments (ignored by the log).</summary>
    public static bool TryParse(string name, out long first, out long last, out bool isSealed)
        => TryParse(name, out first, out last, out isSealed, out _);

    /// <summary>Parses a name; <paramref name="salted"/> says whether its frames are hashed with its first sequence as seed.</summary>
    public static bool TryParse(string name, out long first, out long last, out bool isSealed, out bool salted)
    {
        first = last = 0;
        isSealed = false;
        salted = false;
        foreach (var (open, seg, isSalted) in new[] { (OpenExtension, SealedExtension, false), (SaltedOpenExtension, SaltedSealedExtension, true) })
        {
            salted = isSalted;
            if (name.EndsWith(open, StringComparison.Ordinal) && name.Length == 20 + open.Length)
            {
                last = -1;
                return long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out first) && first >= 1;
            }
            if (name.EndsWith(seg, StringComparison.Ordinal) && name.Length == 41 + seg.Length && name[20] == '-')
            {
                isSealed = true;
                return long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out first)
                    && long.TryParse(name.AsSpan(21, 20), NumberStyles.None, CultureInfo.InvariantCulture, out last)
                    && first >= 1 && last >= first;
            }
        }
        salted = false;
        return false;
    }

    /// <summary>Parses a parked file's name.</summary>
    public static bool TryParseFree(string name, out long id)
    {
        id = 0;
        return name.EndsWith(FreeExtension, StringComparison.Ordinal) && name.Length == 20 + FreeExtension.Length
            && long.TryParse(name.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }
}

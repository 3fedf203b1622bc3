namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// The marker texts that bound a resync inside a disk's ordered stream. The agent appends <c>resync:begin:REASON</c>
/// under the disk's write lock at the first sequence whose state the source never had as a whole (the first write
/// after a restart, the first write that went to the dirty map, the first block a scan sends), and
/// <c>resync:end:REASON</c> once nothing is owed any more (no scan running, no dirty region): the stream is
/// crash-consistent again from that marker on. Because the markers travel in sequence order with the writes, the
/// master target knows every resync range before it sees any marker inside it, whatever the control plane hears and
/// when. No sequence in <c>[begin, end)</c> is ever a recovery point.
/// </summary>
public static class ResyncMarker
{
    /// <summary>Bookmark names starting with this are reserved: an operator's bookmark may not use it.</summary>
    public const string Prefix = "resync:";

    public static string Begin(ResyncReason reason) => $"{Prefix}begin:{reason}";

    public static string End(ResyncReason reason) => $"{Prefix}end:{reason}";

    /// <summary>True for any text with the reserved prefix; <paramref name="begin"/> and <paramref name="reason"/> describe it when well formed.</summary>
    public static bool TryParse(string markerText, out bool begin, out ResyncReason reason)
    {
        begin = false;
        reason = ResyncReason.OperatorRequest;
        if (!markerText.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var rest = markerText.AsSpan(Prefix.Length);
        if (rest.StartsWith("begin:", StringComparison.Ordinal)) { begin = true; rest = rest["begin:".Length..]; }
        else if (rest.StartsWith("end:", StringComparison.Ordinal)) rest = rest["end:".Length..];
        else { begin = true; return true; } // malformed: treated as a begin, the safe reading (no point until an end)
        if (Enum.TryParse<ResyncReason>(rest, out var r) && Enum.IsDefined(r)) reason = r;
        return true;
    }

    /// <summary>Why <paramref name="bookmarkId"/> cannot name an operator's bookmark, or null when it can.</summary>
    public static string? ReservedNameError(string bookmarkId) =>
        bookmarkId.StartsWith(Prefix, StringComparison.Ordinal) ? $"bookmark names starting with '{Prefix}' are reserved for resync markers"
        : bookmarkId.StartsWith(GroupMarker.Prefix, StringComparison.Ordinal) ? $"bookmark names starting with '{GroupMarker.Prefix}' are reserved for group bookmarks"
        : null;
}

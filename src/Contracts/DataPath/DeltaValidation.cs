using System.Text.Unicode;

namespace SiteRecovery.Contracts.DataPath;

/// <summary>The rule a delta record broke; a hop that refuses a record names it.</summary>
public enum DeltaRule
{
    /// <summary>The kind byte is none of Write, Zero, Trim, Bookmark.</summary>
    KindUnknown,
    /// <summary>The record names no disk.</summary>
    DiskIdEmpty,
    /// <summary>Sequences start at 1.</summary>
    SequenceBelowOne,
    /// <summary>The offset is below 0.</summary>
    OffsetNegative,
    /// <summary>The length is below 0 or above <see cref="DeltaCodec.MaxPayload"/>.</summary>
    LengthOutOfBounds,
    /// <summary>Offset + length does not fit in a 64-bit integer.</summary>
    RangeOverflows,
    /// <summary>The range ends past the disk's size.</summary>
    RangePastDisk,
    /// <summary>A write's payload is not exactly its length, or a zero/trim carries a payload.</summary>
    PayloadMismatch,
    /// <summary>A bookmark has an offset or a length (a marker covers no bytes).</summary>
    BookmarkHasRange,
    /// <summary>A bookmark's id is empty, longer than <see cref="DeltaValidation.MaxBookmarkBytes"/> or not valid UTF-8.</summary>
    BookmarkIdInvalid,
}

/// <summary>What is wrong with a delta: the rule and the values that broke it.</summary>
public sealed record DeltaViolation(DeltaRule Rule, string Detail)
{
    public override string ToString() => $"{Rule}: {Detail}";
}

/// <summary>
/// The one check every hop runs on a decoded delta before anything durable happens to it (the process server before
/// spooling, the master target before its journal): shape, kind, sequence, and the range against the disk's size with
/// overflow-safe arithmetic. A record that fails is refused, never stored.
/// </summary>
public static class DeltaValidation
{
    /// <summary>Longest bookmark id (UTF-8 bytes) a marker may carry.</summary>
    public const int MaxBookmarkBytes = 1024;

    /// <summary>
    /// Null when <paramref name="delta"/> may be stored for a disk of <paramref name="diskSize"/> bytes, else the first
    /// rule it breaks. <paramref name="payloadCompressed"/>: the payload is still zstd-compressed, so only the checks
    /// that do not read it run (the caller checks again once it is decompressed).
    /// </summary>
    public static DeltaViolation? Check(Delta delta, long diskSize, bool payloadCompressed = false)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (delta.Kind is not (DeltaKind.Write or DeltaKind.Zero or DeltaKind.Trim or DeltaKind.Bookmark))
            return new(DeltaRule.KindUnknown, $"unknown kind {(byte)delta.Kind}");
        if (string.IsNullOrEmpty(delta.DiskId)) return new(DeltaRule.DiskIdEmpty, "disk id is empty");
        if (delta.Sequence < 1) return new(DeltaRule.SequenceBelowOne, $"sequence {delta.Sequence} is below 1");
        if (delta.Offset < 0) return new(DeltaRule.OffsetNegative, $"offset {delta.Offset} is negative");
        if (delta.Length < 0) return new(DeltaRule.LengthOutOfBounds, $"length {delta.Length} is negative");
        if (delta.Length > DeltaCodec.MaxPayload) return new(DeltaRule.LengthOutOfBounds, $"length {delta.Length} is above {DeltaCodec.MaxPayload}");

        if (delta.Kind == DeltaKind.Bookmark)
        {
            if (delta.Offset != 0 || delta.Length != 0) return new(DeltaRule.BookmarkHasRange, $"bookmark covers {delta.Offset}+{delta.Length}; a marker covers no bytes");
            if (payloadCompressed) return null;
            var id = delta.Payload.Span;
            if (id.Length == 0) return new(DeltaRule.BookmarkIdInvalid, "bookmark has no id");
            if (id.Length > MaxBookmarkBytes) return new(DeltaRule.BookmarkIdInvalid, $"bookmark id is {id.Length} bytes, above {MaxBookmarkBytes}");
            if (!Utf8.IsValid(id)) return new(DeltaRule.BookmarkIdInvalid, "bookmark id is not valid UTF-8");
            return null;
        }

        // Both are non-negative here, so this comparison cannot overflow where Offset + Length could.
        if (delta.Offset > long.MaxValue - delta.Length)
            return new(DeltaRule.RangeOverflows, $"offset {delta.Offset} + length {delta.Length} overflows");
        var end = checked(delta.Offset + delta.Length);
        if (end > diskSize) return new(DeltaRule.RangePastDisk, $"range {delta.Offset}+{delta.Length} ends at {end}, past the disk's {diskSize} bytes");

        if (delta.Kind == DeltaKind.Write)
        {
            if (!payloadCompressed && delta.Payload.Length != delta.Length)
                return new(DeltaRule.PayloadMismatch, $"write payload is {delta.Payload.Length} bytes but length is {delta.Length}");
        }
        else if (delta.Payload.Length != 0)
        {
            return new(DeltaRule.PayloadMismatch, $"{delta.Kind} carries a {delta.Payload.Length}-byte payload");
        }
        return null;
    }

    /// <summary>Null when <paramref name="bookmarkId"/> fits in a marker, else why not (for refusing a request before a marker is numbered).</summary>
    public static string? BookmarkIdProblem(string bookmarkId)
    {
        if (string.IsNullOrEmpty(bookmarkId)) return "bookmark id is empty";
        var bytes = System.Text.Encoding.UTF8.GetByteCount(bookmarkId);
        return bytes > MaxBookmarkBytes - GroupMarkerPrefixBytes ? $"bookmark id is {bytes} bytes, above {MaxBookmarkBytes - GroupMarkerPrefixBytes}" : null;
    }

    // A group's marker carries its bookmark id behind a prefix ("group:"); the id leaves room for it.
    const int GroupMarkerPrefixBytes = 16;
}

/// <summary>A delta a hop refused before storing it: the disk, the sequence and the rule it broke.</summary>
public sealed class DeltaRefusedException(string diskId, long sequence, DeltaViolation violation)
    : Exception($"disk {diskId}: delta #{sequence} refused, nothing stored ({violation})")
{
    public string DiskId { get; } = diskId;
    public long Sequence { get; } = sequence;
    public DeltaViolation Violation { get; } = violation;
}

using System.Collections.Immutable;
using System.Text.Json;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Journal.Resync;

/// <summary>
/// A disk's resync ranges on disk (<c>resync-ranges.json</c> beside its journal), replaced atomically whenever a resync
/// marker arrives, before the marker is appended to the journal: after a crash the file is never behind the journal.
/// It may be ahead of it (the marker not yet appended), which is harmless: the stream resent from the process server
/// holds the same marker at the same sequence.
/// </summary>
public static class ResyncRangeFile
{
    public const string Name = "resync-ranges.json";

    sealed record Stored(long From, long? To, string Reason);

    public static ResyncRanges Load(string directory)
    {
        var path = Path.Combine(directory, Name);
        if (!File.Exists(path)) return ResyncRanges.Empty;
        try
        {
            var stored = JsonSerializer.Deserialize<List<Stored>>(File.ReadAllBytes(path)) ?? throw new JsonException("empty");
            return new ResyncRanges(stored.Select(s => new ResyncRange(s.From, s.To,
                Enum.TryParse<ResyncReason>(s.Reason, out var r) ? r : ResyncReason.OperatorRequest)).ToImmutableList());
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(
                $"{path} is damaged ({e.Message}): it says which sequences of the disk are inside a resync. Restore it, or delete it " +
                "and resync the disk (srctl resync), since points taken during a past resync can no longer be told apart", e);
        }
    }

    public static void Save(string directory, ResyncRanges ranges)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(ranges.Ranges.Select(r => new Stored(r.From, r.To, r.Reason.ToString())).ToList());
        DurableFile.WriteAtomically(Path.Combine(directory, Name), bytes, null, "resync-ranges");
    }
}

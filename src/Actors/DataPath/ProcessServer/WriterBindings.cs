using System.Collections.Concurrent;
using System.Text.Json;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The process server's disk → writer bindings (<see cref="WriterBindingRules"/>), each in the file <c>writer</c> beside
/// the disk's spool (temp, fsync, rename, directory fsync), so a restarted process server still refuses another writer
/// and a replayed epoch. Bindings are metadata about who may write, not disk data: they live with the data they guard.
/// </summary>
/// <remarks>
/// Invariant: a binding is durable before the session it accepts is answered resume, so no acknowledged delta ever came
/// from a writer the process server would not recognise after a restart. <see cref="Gate"/> serialises every decision and
/// its write (hellos are rare; a decision must not interleave with another one for the same disk, nor with a release).
/// </remarks>
sealed class WriterBindings(string cacheDirectory)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    readonly ConcurrentDictionary<string, WriterBinding> _known = new();

    /// <summary>Held across a decision and its write, and across a release.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public static string FileOf(string cacheDirectory, string diskId) => Path.Combine(cacheDirectory, diskId, "writer");

    /// <summary>The disk's binding, or null; <see cref="DurableFileUnreadableException"/> naming the file when it is damaged.</summary>
    public WriterBinding? Get(string diskId)
    {
        if (_known.TryGetValue(diskId, out var known)) return known;
        var path = FileOf(cacheDirectory, diskId);
        var binding = File.Exists(path)
            ? DurableFile.Read(path, "process server writer binding", bytes =>
                JsonSerializer.Deserialize<WriterBinding>(bytes, Json) is { Fingerprint.Length: 64, Epoch: > 0, SourceId.Length: > 0 } b ? b : throw new FormatException("not a writer binding"),
                "Its disk refuses every writer until it is readable: an operator who knows the machine's agent releases it (srctl writer release), and the agent's next hello binds again.")
            : null;
        // Only a binding is remembered: a disk without one is looked up again (a name from a refused hello costs no memory).
        if (binding is not null) _known[diskId] = binding;
        return binding;
    }

    /// <summary>Makes <paramref name="binding"/> the disk's, durably, before it returns.</summary>
    public void Save(string diskId, WriterBinding binding)
    {
        Directory.CreateDirectory(Path.Combine(cacheDirectory, diskId));
        DurableFile.WriteAtomically(FileOf(cacheDirectory, diskId), JsonSerializer.SerializeToUtf8Bytes(binding, Json), null, "writer");
        _known[diskId] = binding;
    }

    /// <summary>Removes the disk's binding durably; false when it had none (nothing changed).</summary>
    public bool Release(string diskId)
    {
        var path = FileOf(cacheDirectory, diskId);
        if (!File.Exists(path)) { _known.TryRemove(diskId, out _); return false; }
        File.Delete(path);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
        _known.TryRemove(diskId, out _);
        return true;
    }

    /// <summary>Every binding on disk (for a control hello, which names a source rather than disks).</summary>
    public IEnumerable<(string DiskId, WriterBinding Binding)> All()
    {
        if (!Directory.Exists(cacheDirectory)) yield break;
        foreach (var dir in Directory.EnumerateDirectories(cacheDirectory))
        {
            var id = Path.GetFileName(dir);
            WriterBinding? b;
            try { b = Get(id); }
            catch (DurableFileUnreadableException) { continue; }
            if (b is not null) yield return (id, b);
        }
    }
}

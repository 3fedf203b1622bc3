using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Node;

/// <summary>
/// The <c>--replica-file DISK=PATH</c> values: disks whose replica the master target keeps in an existing file (a reprotect
/// writes the reverse replication into the original machine's disk) instead of <c>replicas/DISK.img</c>. Checked at
/// start-up, before anything is written; each refusal is an <see cref="ArgumentException"/> naming the flag and the value.
/// The file's size is checked against the disk when it is offered (see <see cref="LocalFileReplicaStoreFactory"/>).
/// </summary>
public static class ReplicaFiles
{
    public const string Flag = "--replica-file";

    /// <summary>
    /// Disk id → full path, from <paramref name="values"/>; <paramref name="masterTargetDirectory"/> is the role's data folder
    /// (<c>&lt;data&gt;/master-target</c>), whose state for a disk must not contradict adopting a file for it.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Parse(IReadOnlyList<string> values, NodeRoles roles, string masterTargetDirectory)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        if (values.Count == 0) return files;
        if (!roles.HasFlag(NodeRoles.MasterTarget))
            throw new ArgumentException($"{Flag} needs the master-target role (--roles {roles.ToString().ToLowerInvariant()} has none)");
        var defaults = new LocalFileReplicaStoreFactory(Path.Combine(masterTargetDirectory, "replicas"), "check");
        var diskByPath = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            var eq = value.IndexOf('=');
            if (eq <= 0 || eq == value.Length - 1) throw new ArgumentException($"{Flag} '{value}': expected DISK=PATH");
            var disk = value[..eq];
            try { LocalFileReplicaStoreFactory.CheckDiskId(disk); }
            catch (ArgumentException e) { throw new ArgumentException($"{Flag} '{value}': {e.Message.Split(" (Parameter")[0]}"); }
            var path = Path.GetFullPath(value[(eq + 1)..]);
            if (files.ContainsKey(disk)) throw new ArgumentException($"{Flag} '{value}': disk {disk} is given more than once");
            var real = CheckFile(value, path);
            if (diskByPath.TryGetValue(real, out var other)) throw new ArgumentException($"{Flag} '{value}': '{path}' is already the replica file of disk {other}");
            CheckDiskState(value, disk, path, defaults.DefaultPathFor(disk), Path.Combine(masterTargetDirectory, "disks", disk, "disk.json"));
            files[disk] = path;
            diskByPath[real] = disk;
        }
        return files;
    }

    /// <summary>The file behind <paramref name="path"/> (links followed), checked to be a non-empty regular file; its full path.</summary>
    static string CheckFile(string value, string path)
    {
        // Exists follows links: a dangling link does not exist either.
        if (!File.Exists(path) && !Directory.Exists(path)) throw new ArgumentException($"{Flag} '{value}': '{path}' does not exist");
        string real;
        try
        {
            real = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{Flag} '{value}': '{path}' cannot be resolved: {e.Message}");
        }
        if (Directory.Exists(real)) throw new ArgumentException($"{Flag} '{value}': '{path}' is a directory, not a regular file");
        // A device reports no length: like an empty file, it cannot match the size a disk is offered with.
        if (new FileInfo(real).Length == 0) throw new ArgumentException($"{Flag} '{value}': '{path}' is empty or not a regular file");
        try
        {
            using var probe = File.Open(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{Flag} '{value}': '{path}' cannot be opened for reading and writing: {e.Message}");
        }
        return Path.GetFullPath(real);
    }

    /// <summary>
    /// Refuses to switch a disk the master target already keeps elsewhere: a replica at the default place, or a disk.json
    /// whose size is not the file's. Its journal would claim a state the adopted file does not hold.
    /// </summary>
    static void CheckDiskState(string value, string disk, string path, string defaultPath, string diskFile)
    {
        if (File.Exists(defaultPath))
            throw new ArgumentException($"{Flag} '{value}': the master target already keeps disk {disk}'s replica at '{defaultPath}'; refused rather than switching to '{path}' (remove the disk's replica and '{Path.GetDirectoryName(diskFile)}' to adopt the file)");
        if (!File.Exists(diskFile)) return;
        long recorded;
        try { recorded = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(diskFile)).RootElement.GetProperty("SizeBytes").GetInt64(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ArgumentException($"{Flag} '{value}': '{diskFile}' cannot be read ({e.Message}); refused rather than adopting '{path}'");
        }
        var length = new FileInfo(path).Length;
        if (recorded != length)
            throw new ArgumentException($"{Flag} '{value}': '{diskFile}' records disk {disk} with {recorded} bytes, but '{path}' is {length} bytes; refused rather than switching");
    }
}

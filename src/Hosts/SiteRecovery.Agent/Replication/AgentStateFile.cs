using System.Text.Json;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// What the agent knows of a disk across its own restarts. It is marked dirty as soon as the agent
/// starts serving the disk and clean only after a shutdown that saw every delta acknowledged, so
/// after a crash the agent knows it cannot vouch for the stream and resyncs, naming the reason.
/// </summary>
public sealed record AgentStateFile(long LastSequence, bool Clean)
{
    public static AgentStateFile? Load(string path)
    {
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<AgentStateFile>(File.ReadAllBytes(path)); }
        catch (JsonException) { return null; }
    }

    public void Save(string path)
    {
        var tmp = path + ".tmp";
        using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(f, this);
            f.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }
}

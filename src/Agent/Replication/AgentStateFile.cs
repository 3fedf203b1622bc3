using System.Text.Json;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// What the agent knows of a disk across its own restarts. It is marked dirty as soon as the agent
/// starts serving the disk and clean only after a shutdown that saw every delta acknowledged, so
/// after a crash the agent knows it cannot vouch for the stream and resyncs, naming the reason.
/// Written atomically (temp, fsync, rename, directory fsync), and only when its content changes.
/// </summary>
public sealed record AgentStateFile(long LastSequence, bool Clean)
{
    /// <summary>
    /// The state, or null when there is no file (a disk this agent never served). An empty, torn or unparsable file
    /// is a <see cref="DurableFileUnreadableException"/> naming it: the caller must not take it as clean.
    /// </summary>
    public static AgentStateFile? Load(string path)
    {
        if (!File.Exists(path)) return null;
        return DurableFile.Read(path, "agent state file", bytes =>
            JsonSerializer.Deserialize<AgentStateFile>(bytes) is { LastSequence: >= 0 } state
                ? state : throw new FormatException("it holds no state or a negative sequence"),
            "Nothing to do: the disk is resynced in full and the file rewritten.");
    }

    public void Save(string path, Action<string>? hook = null)
        => DurableFile.WriteIfChanged(path, JsonSerializer.SerializeToUtf8Bytes(this), hook, "agent-state");
}

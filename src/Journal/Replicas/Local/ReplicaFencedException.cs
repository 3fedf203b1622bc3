namespace SiteRecovery.Journal.Replicas.Local;

/// <summary>The replica is held by another owner; names the lock file and that owner so the conflict can be resolved.</summary>
public sealed class ReplicaFencedException(string lockFile, string currentOwner, Exception? inner)
    : Exception($"replica is fenced: lock file '{lockFile}' is held by owner '{currentOwner}'", inner)
{
    public string LockFile { get; } = lockFile;
    public string CurrentOwner { get; } = currentOwner;
}

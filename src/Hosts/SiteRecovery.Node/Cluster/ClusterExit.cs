namespace SiteRecovery.Node.Cluster;

/// <summary>
/// How the node's cluster membership ended, when it ended before the process was asked to stop, and the gate the
/// cluster's shutdown waits at until the data path has stopped.
/// <para>
/// A node that leaves (<c>srctl cluster leave</c>) or is downed (<c>srctl cluster down</c>, or the split-brain resolver
/// on the minority side) does not go on alone: it stops its data path (the process server stops taking agents' writes
/// and the master target flushes and unlocks every replica, as on SIGTERM) and then the process exits, 0 after a
/// leave and <see cref="DownedExitCode"/> after a down, so a supervisor restarts a downed node (it joins its seeds
/// again) and leaves a node that left stopped. Nothing durable is lost: what an agent sent and was not acknowledged,
/// it sends again to the node it reaches next.
/// </para>
/// </summary>
public sealed class ClusterExit : IHostedService
{
    /// <summary>The exit code of a node the cluster downed.</summary>
    public const int DownedExitCode = 3;

    readonly TaskCompletionSource _dataPathStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public enum Reason
    {
        /// <summary>The node left the cluster (a leave asked of it or of another member).</summary>
        Left,
        /// <summary>The cluster downed the node (a down, or the split-brain resolver).</summary>
        Downed,
    }

    /// <summary>Why membership ended, when the cluster ended it; null for an ordinary stop (SIGTERM, Ctrl+C).</summary>
    public Reason? Ended { get; private set; }

    public int ExitCode => Ended == Reason.Downed ? DownedExitCode : 0;

    public void End(Reason why) => Ended ??= why;

    /// <summary>Completes once the host has stopped the data path (this service starts before it, so stops after it).</summary>
    public Task DataPathStopped => _dataPathStopped.Task;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _dataPathStopped.TrySetResult();
        return Task.CompletedTask;
    }
}

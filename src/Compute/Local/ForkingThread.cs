using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// Runs a short command through <see cref="BoundedProcess"/> from a thread of its own that lives until the command
/// ends. Measured on the test host (perf, signal:signal_generate): a child got SIGTERM from the kernel when the .NET
/// thread that had forked it exited (do_exit of that thread, i.e. a parent-death signal), and xunit's and the thread
/// pool's threads do exit. qemu's and nbdkit's daemonizing parents live well under a second, but a SIGTERM in that
/// window fails a start that should have worked; their daemons are forks and owe nothing to our threads.
/// Where the death signal comes from is not established (plain .NET did not show it in isolation).
/// </summary>
public static class ForkingThread
{
    /// <summary><see cref="BoundedProcess.RunAsync"/>, forked from a dedicated thread that waits for the command.</summary>
    public static Task<ProcessRun> RunAsync(string file, IReadOnlyList<string> args, string? workingDirectory, TimeSpan timeout, CancellationToken ct) =>
        Task.Factory.StartNew(
            () => BoundedProcess.RunAsync(file, args, workingDirectory, timeout, ct).GetAwaiter().GetResult(),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
}

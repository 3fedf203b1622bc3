namespace SiteRecovery.Agent.Replication;

/// <summary>
/// <c>--hold-first-sync FILE</c>: the resyncs this agent's first settle starts (the compare of <c>--compare-with-replica</c>)
/// wait until FILE exists. Why: a reprotect moves a machine that is running on the very files this agent serves onto the
/// agent's NBD exports while it runs (a qemu mirror that pivots its drives onto the exports). Until the pivot the machine
/// also writes the files directly, past the agent; a compare that had already read a block the machine then wrote there
/// would never send that write. So the node starts the agent held, pivots the machine, and creates FILE: from then on
/// every write goes through the agent, and the compare, which reads every block after that, covers all earlier ones.
///
/// During the hold the agent serves NBD as usual: the resync's range is open before the exports serve I/O, so writes
/// that arrive meanwhile are written to the disk and numbered after its begin marker, and the replica gets no point
/// until the compare completes. A file, not a signal or a socket, because the node that releases may be a later process
/// than the one that started the agent (a node killed mid-reprotect), and a file outlives both.
/// </summary>
public static class FirstSyncHold
{
    /// <summary>How often the file is looked for.</summary>
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    /// <summary>Completes once <paramref name="path"/> exists; cancelled with <paramref name="ct"/> (the agent stopping).</summary>
    public static async Task WaitAsync(string path, Action<string> log, CancellationToken ct)
    {
        if (File.Exists(path)) return;
        log($"first sync held until {path} exists");
        while (!File.Exists(path)) await Task.Delay(Poll, ct).ConfigureAwait(false);
        log($"first sync released: {path} exists");
    }
}

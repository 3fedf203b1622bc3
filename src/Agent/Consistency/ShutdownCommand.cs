using SiteRecovery.Contracts.Processes;
using System.ComponentModel;

namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// The agent's <c>--shutdown-command PATH</c>: the script that shuts the protected machine down in a planned failover,
/// after the freeze hooks and before the exports turn read-only. Contract: run as <c>PATH shutdown</c>; exit 0 means the
/// machine is shutting down or down (the agent then waits for its NBD clients to disconnect); any other exit is a
/// failure; stdin is closed; the working directory is the script's folder; output is quoted, shortened, in the result
/// (so it must not print secrets); past the hook timeout it is killed with its whole process tree. The same
/// <see cref="BoundedProcess"/> runner and the same checks as a <c>--freeze-script</c>.
/// </summary>
public sealed class ShutdownCommand(string path) : IMachineShutdown
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string Kind => "shutdown command";

    public string Name => $"{Kind} {Path}";

    /// <summary>Start-up check; throws <see cref="ArgumentException"/> naming the flag and the path.</summary>
    public static ShutdownCommand? Validate(string? path)
    {
        if (path is null) return null;
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("--shutdown-command: an empty path was given");
        var full = System.IO.Path.GetFullPath(path);
        if (ScriptHook.Unusable(full) is { } why) throw new ArgumentException($"--shutdown-command {why}");
        return new ShutdownCommand(full);
    }

    /// <summary>Runs <c>PATH shutdown</c>; never throws for an expected failure (missing, exit, timeout).</summary>
    public async Task<HookResult> ShutDownAsync(TimeSpan timeout, CancellationToken ct)
    {
        if (ScriptHook.Unusable(Path) is { } why) return new HookResult(HookOutcome.Missing, $"{Name}: {why}");
        ProcessRun run;
        try
        {
            run = await BoundedProcess.RunAsync(Path, ["shutdown"], System.IO.Path.GetDirectoryName(Path), timeout, ct).ConfigureAwait(false);
        }
        catch (Win32Exception e)
        {
            return new HookResult(HookOutcome.Missing, $"{Name}: cannot be started: {e.Message}");
        }
        var result = ScriptHook.Interpret(Name, "shutdown", run, timeout);
        return result.Succeeded ? result with { Detail = $"exited 0 in {run.Elapsed.TotalMilliseconds:0} ms" } : result;
    }
}

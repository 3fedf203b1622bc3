using SiteRecovery.Contracts.Processes;
using System.ComponentModel;

namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// A user script run as <c>SCRIPT freeze</c> before an application-consistent bookmark and <c>SCRIPT thaw</c> after it.
/// Contract: argv[1] is the phase (<c>freeze</c> or <c>thaw</c>); exit 0 means done, any other exit is a failure;
/// stdin is closed; the working directory is the script's folder; stdout and stderr are captured and quoted,
/// shortened, in the result (so a script must not print secrets). A script that does not answer within the hook
/// timeout is killed with its whole process tree. <c>thaw</c> is also run after a failed or timed-out <c>freeze</c>,
/// so it must succeed when nothing is frozen.
/// </summary>
public sealed class ScriptHook(string path) : IFreezeHook
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string Name => $"script {Path}";

    public Task<HookResult> FreezeAsync(TimeSpan timeout, CancellationToken ct) => RunAsync("freeze", timeout, ct);

    public Task<HookResult> ThawAsync(TimeSpan timeout, CancellationToken ct) => RunAsync("thaw", timeout, ct);

    /// <summary>Why the script cannot be run, or null when it can.</summary>
    public static string? Unusable(string path)
    {
        if (Directory.Exists(path)) return $"'{path}' is a directory, not a script";
        if (!File.Exists(path)) return $"'{path}' does not exist";
        if (!BoundedProcess.IsExecutable(path)) return $"'{path}' is not executable (chmod +x)";
        return null;
    }

    async Task<HookResult> RunAsync(string phase, TimeSpan timeout, CancellationToken ct)
    {
        if (Unusable(Path) is { } why) return new HookResult(HookOutcome.Missing, $"{Name} {phase}: {why}");
        ProcessRun run;
        try
        {
            run = await BoundedProcess.RunAsync(Path, [phase], System.IO.Path.GetDirectoryName(Path), timeout, ct).ConfigureAwait(false);
        }
        catch (Win32Exception e)
        {
            return new HookResult(HookOutcome.Missing, $"{Name} {phase}: cannot be started: {e.Message}");
        }
        return Interpret(Name, phase, run, timeout);
    }

    /// <summary>Exit 0 is success; a kill is TimedOut (or Failed when cancelled); any other exit is Failed with the output quoted.</summary>
    public static HookResult Interpret(string name, string phase, ProcessRun run, TimeSpan timeout)
    {
        if (run.TimedOut)
            return new HookResult(HookOutcome.TimedOut, $"{name} {phase}: no answer within {timeout.TotalSeconds:0.###} s, killed with its process tree; {BoundedProcess.Quote(run)}");
        if (run.Cancelled)
            return new HookResult(HookOutcome.Failed, $"{name} {phase}: cancelled after {run.Elapsed.TotalMilliseconds:0} ms, killed with its process tree");
        if (run.ExitCode == 0) return HookResult.Success;
        return new HookResult(HookOutcome.Failed, $"{name} {phase}: exit {run.ExitCode} after {run.Elapsed.TotalMilliseconds:0} ms; {BoundedProcess.Quote(run)}");
    }
}

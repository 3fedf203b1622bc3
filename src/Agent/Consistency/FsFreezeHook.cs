using SiteRecovery.Contracts.Processes;
using System.ComponentModel;

namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// Linux <c>fsfreeze --freeze MOUNT</c> / <c>fsfreeze --unfreeze MOUNT</c> (util-linux): the kernel flushes the
/// filesystem and blocks every new write to it until the thaw. The mount is usually the filesystem on top of the
/// agent's NBD export, so the flush travels through the agent into the stream before the bookmark. Never list the
/// filesystem that holds the agent's own disk files or state: the agent would block on itself (start-up refuses it).
/// </summary>
public sealed class FsFreezeHook(string mountPoint) : IFreezeHook
{
    public string MountPoint { get; } = MountTable.Normalize(mountPoint);

    public string Name => $"fsfreeze {MountPoint}";

    public Task<HookResult> FreezeAsync(TimeSpan timeout, CancellationToken ct) => RunAsync("--freeze", timeout, ct);

    public Task<HookResult> ThawAsync(TimeSpan timeout, CancellationToken ct) => RunAsync("--unfreeze", timeout, ct);

    /// <summary>Why this mount cannot be frozen here (OS, fsfreeze command, mount point), or null when it can.</summary>
    public static string? Unusable(string mountPoint)
    {
        if (!OperatingSystem.IsLinux()) return "fsfreeze is only available on Linux";
        if (BoundedProcess.FindCommand("fsfreeze") is null) return "the fsfreeze command (util-linux) is not found in PATH, /usr/sbin or /sbin";
        if (!Directory.Exists(mountPoint)) return $"'{mountPoint}' does not exist";
        if (!MountTable.IsMountPoint(mountPoint)) return $"'{mountPoint}' is not a mount point";
        return null;
    }

    async Task<HookResult> RunAsync(string action, TimeSpan timeout, CancellationToken ct)
    {
        var phase = action == "--freeze" ? "freeze" : "thaw";
        if (Unusable(MountPoint) is { } why) return new HookResult(HookOutcome.Missing, $"{Name} {phase}: {why}");
        ProcessRun run;
        try
        {
            run = await BoundedProcess.RunAsync(BoundedProcess.FindCommand("fsfreeze")!, [action, MountPoint], null, timeout, ct).ConfigureAwait(false);
        }
        catch (Win32Exception e)
        {
            return new HookResult(HookOutcome.Missing, $"{Name} {phase}: fsfreeze cannot be started: {e.Message}");
        }
        // FITHAW answers EINVAL when the filesystem is not frozen: after a failed freeze that is the state a thaw wants.
        if (phase == "thaw" && run.ExitCode is not (null or 0) && run.StdErr.Contains("Invalid argument", StringComparison.Ordinal))
            return HookResult.Success;
        return ScriptHook.Interpret(Name, phase, run, timeout);
    }
}

using System.Runtime.InteropServices;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// A process we started detached (qemu, a reverse agent) known only by pid and instance id (it is not our child: it daemonized, and the node that started it
/// may be gone). A pid counts as the machine only while <c>/proc/PID/cmdline</c> holds the instance id, so a recycled
/// pid is never signalled. A zombie has an empty cmdline, so it reads as gone.
/// </summary>
public static class MachineProcess
{
    const int SigKill = 9;
    const int SigTerm = 15;

    /// <summary>True while <paramref name="pid"/> is a live process whose command line carries <paramref name="instanceId"/>.</summary>
    public static bool IsOurs(int pid, string instanceId)
    {
        if (string.IsNullOrEmpty(instanceId)) return false;
        return CommandLine(pid)?.Any(arg => arg.Contains(instanceId, StringComparison.Ordinal)) ?? false;
    }

    /// <summary>The arguments of a live process (argv[0] first), or null when it is gone or a zombie.</summary>
    public static string[]? CommandLine(int pid)
    {
        if (pid <= 0) return null;
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            return cmdline.Length == 0 ? null : cmdline.TrimEnd('\0').Split('\0');
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// SIGTERM (qemu stops the guest and flushes its disks), then SIGKILL after <paramref name="grace"/>; returns once the
    /// process is gone. Throws when it outlives SIGKILL by five seconds (a process stuck in the kernel).
    /// </summary>
    public static async Task StopAsync(int pid, string instanceId, TimeSpan grace, CancellationToken ct)
    {
        if (!IsOurs(pid, instanceId)) return;
        Signal(pid, SigTerm);
        if (await GoneWithinAsync(pid, instanceId, grace, ct).ConfigureAwait(false)) return;
        if (!IsOurs(pid, instanceId)) return;
        Signal(pid, SigKill);
        if (await GoneWithinAsync(pid, instanceId, TimeSpan.FromSeconds(5), ct).ConfigureAwait(false)) return;
        throw new IOException($"process {pid} ({instanceId}) is still running 5 s after SIGKILL");
    }

    static async Task<bool> GoneWithinAsync(int pid, string instanceId, TimeSpan limit, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (IsOurs(pid, instanceId))
        {
            if (clock.Elapsed >= limit) return false;
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
        return true;
    }

    static void Signal(int pid, int signal)
    {
        // ESRCH (gone since the check) is what we wanted anyway; anything else shows up as the process not going away.
        _ = kill(pid, signal);
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);
}

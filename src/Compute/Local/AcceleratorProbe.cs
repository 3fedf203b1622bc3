using System.Collections.Concurrent;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Local;

/// <summary>Which accelerator the local target uses and why (the reason is for logs and reports).</summary>
public sealed record AcceleratorChoice(string Accelerator, string Reason);

/// <summary>
/// Chooses KVM only when a probe boot under KVM works, never because /dev/kvm opens: some hosts expose a paravirtual
/// /dev/kvm (kvm_pvm) on which a BIOS guest dies with "KVM internal error" / an emulation failure. The probe starts qemu
/// with <c>-accel kvm</c>, no disks and SeaBIOS's debug console (I/O port 0x402) on a file, and succeeds when SeaBIOS
/// gets through its whole power-on self test to "No bootable device" within the timeout while qemu stays up and
/// reports no KVM error. Anything else means TCG. The answer is kept for the life of the process (per qemu binary);
/// <c>SR_QEMU_ACCEL=kvm|tcg</c> or <see cref="LocalTargetOptions.Accelerator"/> skips the probe.
/// </summary>
public static class AcceleratorProbe
{
    /// <summary>The environment variable that forces the accelerator.</summary>
    public const string EnvironmentVariable = "SR_QEMU_ACCEL";

    /// <summary>What SeaBIOS prints on its debug console once it has tried every boot device.</summary>
    internal const string SeaBiosDoneMarker = "No bootable device";

    static readonly ConcurrentDictionary<string, Lazy<Task<AcceleratorChoice>>> Probed = new(StringComparer.Ordinal);

    /// <summary>The configured accelerator, else the environment's, else the (cached) probe's answer.</summary>
    public static Task<AcceleratorChoice> ChooseAsync(string qemu, string? configured, TimeSpan timeout, CancellationToken ct)
    {
        if ((Forced(configured, "options") ?? Forced(Environment.GetEnvironmentVariable(EnvironmentVariable), EnvironmentVariable)) is { } forced)
            return Task.FromResult(forced);
        // The probe runs once for everyone, on no caller's token: one caller giving up must not poison the cache.
        return Probed.GetOrAdd(qemu, q => new Lazy<Task<AcceleratorChoice>>(() => ProbeAsync(q, timeout))).Value.WaitAsync(ct);
    }

    static AcceleratorChoice? Forced(string? value, string source) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        Accelerators.Kvm => new AcceleratorChoice(Accelerators.Kvm, $"forced by {source}"),
        Accelerators.Tcg => new AcceleratorChoice(Accelerators.Tcg, $"forced by {source}"),
        _ => throw new ArgumentException($"{source}: accelerator '{value}' must be '{Accelerators.Kvm}' or '{Accelerators.Tcg}'"),
    };

    /// <summary>One probe boot under KVM (not cached).</summary>
    public static async Task<AcceleratorChoice> ProbeAsync(string qemu, TimeSpan timeout)
    {
        var debugLog = Path.Combine(Path.GetTempPath(), $"sr-kvm-probe-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        using var stop = new CancellationTokenSource();
        try
        {
            string[] args =
            [
                "-accel", "kvm", "-m", "64", "-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot",
                "-chardev", $"file,id=dbg,path={debugLog.Replace(",", ",,", StringComparison.Ordinal)}",
                "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            ];
            var run = ForkingThread.RunAsync(qemu, args, null, timeout, stop.Token);
            var reachedEnd = false;
            while (!run.IsCompleted)
            {
                if (ReadShared(debugLog).Contains(SeaBiosDoneMarker, StringComparison.Ordinal))
                {
                    reachedEnd = true;
                    await stop.CancelAsync().ConfigureAwait(false);
                    break;
                }
                await Task.WhenAny(run, Task.Delay(50)).ConfigureAwait(false);
            }
            var result = await run.ConfigureAwait(false);
            var stderr = result.StdErr;
            if (stderr.Contains("internal error", StringComparison.OrdinalIgnoreCase) || stderr.Contains("emulation failure", StringComparison.OrdinalIgnoreCase))
                return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: qemu reported a KVM failure ({BoundedProcess.Quote(result)})");
            if (reachedEnd)
                return new AcceleratorChoice(Accelerators.Kvm, $"KVM probe: SeaBIOS finished its self test in {result.Elapsed.TotalMilliseconds:F0} ms");
            if (result.TimedOut)
                return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: SeaBIOS did not finish within {timeout.TotalSeconds:F0} s");
            return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: qemu exited {result.ExitCode} ({BoundedProcess.Quote(result)})");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: cannot start {qemu}: {e.Message}");
        }
        finally
        {
            try { File.Delete(debugLog); } catch (IOException) { }
        }
    }

    static string ReadShared(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException) { return string.Empty; }
        catch (IOException) { return string.Empty; }
    }
}

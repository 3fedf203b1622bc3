using System.Collections.Concurrent;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Local;

/// <summary>Which accelerator the local target uses and why (the reason is for logs and reports).</summary>
public sealed record AcceleratorChoice(string Accelerator, string Reason);

/// <summary>
/// Chooses KVM only when a probe boot under KVM works, never because /dev/kvm opens: some hosts expose a paravirtual
/// /dev/kvm (kvm_pvm) on which a guest dies with "KVM internal error" / an emulation failure. On some the BIOS itself
/// dies; on others SeaBIOS finishes and the guest's bootloader dies (an iret in protected mode without paging), so the
/// probe boots a boot sector of its own that does what a bootloader does (<see cref="BootSector"/>, source in
/// <c>KvmProbeBootSector.S</c>). It starts qemu with <c>-accel kvm</c>, that sector as its only disk and SeaBIOS's debug
/// console (I/O port 0x402) on a file, and succeeds when the sector prints <see cref="DoneMarker"/> there within the
/// timeout while qemu reports no KVM error. Anything else means TCG (a KVM that fails pauses its guest, so that takes the
/// whole timeout). The answer is kept for the life of the process (per qemu binary); <c>SR_QEMU_ACCEL=kvm|tcg</c> or
/// <see cref="LocalTargetOptions.Accelerator"/> skips the probe.
/// </summary>
public static class AcceleratorProbe
{
    /// <summary>The environment variable that forces the accelerator.</summary>
    public const string EnvironmentVariable = "SR_QEMU_ACCEL";

    /// <summary>What the probe's boot sector prints on the debug console once it has been through protected mode and an iret.</summary>
    internal const string DoneMarker = "SR-KVM-PROBE-OK";

    /// <summary>The probe's boot sector: <c>KvmProbeBootSector.S</c> assembled (512 bytes, ending 55 AA).</summary>
    internal static readonly byte[] BootSector = Convert.FromBase64String(
        "+jHAjtiO0LwAfA8BFmh8DyDAZoPIAQ8iwOoefAgAZrgQAI7YjsCO0LwAcAAADwEdjnwAAMy+lHwAAGa6AgSshMB0A+7r+Pr06/zPjXQmAJAAAAAAAAAAAP//AAAAms8A//8AAACSzwAXAFB8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABKfAgAAI4AAB8AbnwAAFNSLUtWTS1QUk9CRS1PSwo" +
        new string('A', 461) + "Vao=");

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
        var stem = Path.Combine(Path.GetTempPath(), $"sr-kvm-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var debugLog = stem + ".log";
        var disk = stem + ".img";
        using var stop = new CancellationTokenSource();
        try
        {
            await File.WriteAllBytesAsync(disk, BootSector).ConfigureAwait(false);
            string[] args =
            [
                "-accel", "kvm", "-m", "64", "-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot",
                "-chardev", $"file,id=dbg,path={debugLog.Replace(",", ",,", StringComparison.Ordinal)}",
                "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
                "-drive", $"file={disk.Replace(",", ",,", StringComparison.Ordinal)},format=raw,if=ide",
            ];
            var run = ForkingThread.RunAsync(qemu, args, null, timeout, stop.Token);
            var reachedEnd = false;
            while (!run.IsCompleted)
            {
                if (ReadShared(debugLog).Contains(DoneMarker, StringComparison.Ordinal))
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
                return new AcceleratorChoice(Accelerators.Kvm, $"KVM probe: its boot sector ran through protected mode in {result.Elapsed.TotalMilliseconds:F0} ms");
            if (result.TimedOut)
                return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: its boot sector did not finish within {timeout.TotalSeconds:F0} s");
            return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: qemu exited {result.ExitCode} ({BoundedProcess.Quote(result)})");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new AcceleratorChoice(Accelerators.Tcg, $"KVM probe: cannot start {qemu}: {e.Message}");
        }
        finally
        {
            try { File.Delete(debugLog); File.Delete(disk); } catch (IOException) { }
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

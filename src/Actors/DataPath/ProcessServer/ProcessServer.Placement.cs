using SiteRecovery.Connections;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A process server that knows the site's placements (<see cref="PlacedOn"/>: one running beside the configuration role)
/// takes a disk only from a machine placed on it. A machine placed on another process server is refused by name before
/// anything is bound, made or resumed, logged, and reported like every writer refusal (the <c>DiskWriterRefused</c> alert,
/// reason <see cref="WriterRefusal.NotPlacedHere"/>); the agent logs the refusal and, following its placement, goes there.
/// A machine with no placement (not protected through the control plane: a site set up by hand, a quickstart) is served
/// as before; refusing it is left to the mutual-TLS rules.
/// </summary>
public sealed partial class ProcessServer
{
    /// <summary>
    /// The process server a machine's disks are placed on (null: not placed), or null when this process server knows no
    /// placements. Set once, before agents connect.
    /// </summary>
    public Func<string, CancellationToken, Task<string?>>? PlacedOn { get; set; }

    /// <summary>Why <paramref name="hello"/>'s disks may not replicate through this process server, or null.</summary>
    async Task<string?> PlacementProblemAsync(HopConnection hop, Hello hello, CancellationToken ct)
    {
        if (PlacedOn is not { } placedOn || hello.Disks.Count == 0) return null;
        foreach (var machine in hello.Disks.Select(d => d.MachineId ?? hello.SourceId).Distinct(StringComparer.Ordinal))
        {
            if (await placedOn(machine, ct).ConfigureAwait(false) is not { } placed || placed == _options.ServerId) continue;
            var detail = $"machine {machine}'s disks ({string.Join(", ", hello.Disks.Where(d => (d.MachineId ?? hello.SourceId) == machine).Select(d => d.DiskId))}) " +
                         $"are placed on process server {placed}, not on {_options.ServerId}: refused (an agent without --process-server follows its placement)";
            hop.ReportRefusal(detail);
            var offered = HelloSignature.Verify(hello).Writer?.Fingerprint ?? "(unverified)";
            foreach (var disk in hello.Disks.Where(d => (d.MachineId ?? hello.SourceId) == machine && PathNames.IsOneComponent(d.DiskId)))
                ReportRefusal(disk.DiskId, WriterOf(disk.DiskId)?.Fingerprint, offered, WriterRefusal.NotPlacedHere, detail);
            return detail;
        }
        return null;
    }
}

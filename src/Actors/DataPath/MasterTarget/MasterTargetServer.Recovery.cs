using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Resync;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The read facade for the control plane, exports and failovers: points written out as images, opened as views,
/// resolved from a time, checked by hash. Apart because none of it changes a disk: it only reads what the retention
/// journal holds, and it is where a point inside a resync is refused or clamped.
/// </summary>
public sealed partial class MasterTargetServer
{
    /// <summary>
    /// Writes the image of <paramref name="diskId"/> as of <paramref name="sequence"/> to <paramref name="outputPath"/>:
    /// base image + nearest checkpoint + journal to the point. <see cref="PointInTimeUnavailableException"/> when the
    /// point is outside the retention window.
    /// </summary>
    public async Task<MaterializeResult> RecoverAsync(string diskId, long sequence, string outputPath, IProgress<double>? progress, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        if (sequence > disk.DurableThrough)
            throw new ArgumentOutOfRangeException(nameof(sequence), $"disk {diskId}: sequence {sequence} is past what is durable here (#{disk.DurableThrough})");
        RefuseInsideResync(disk, sequence);
        using var view = disk.Retention.OpenView(sequence);
        return await Task.Run(() => PointInTimeMaterializer.MaterializeAsync(view, outputPath, progress, true, ct), ct).ConfigureAwait(false);
    }

    /// <summary>Opens a pinned random-access view of <paramref name="diskId"/> at <paramref name="sequence"/> (never inside a resync).</summary>
    public async Task<PointInTimeView> OpenViewAsync(string diskId, long sequence)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        RefuseInsideResync(disk, sequence);
        return disk.Retention.OpenView(sequence);
    }

    /// <summary>Every way of naming a point ends here or in the marker checks: a sequence inside a resync is refused.</summary>
    static void RefuseInsideResync(ReplicaDisk disk, long sequence)
    {
        if (disk.InsideResync(sequence) is { } refusal) throw refusal;
    }

    /// <summary>
    /// The last sequence of <paramref name="diskId"/> written at or before <paramref name="time"/>. A time that falls inside
    /// a resync is clamped to the last sequence before it (<see cref="ResolvedTime.ClampedFrom"/> says from what and why);
    /// when that is below the retention window the time is refused.
    /// </summary>
    public async Task<ResolvedTime> ResolveTimeAsync(string diskId, DateTimeOffset time)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        var point = disk.Retention.ResolveTimePoint(time, Now());
        var sequence = point.Sequence;
        // Resolved by the master target's receive time; a record from before receive times were kept goes by the agent's.
        var byAgent = point.ReceivedUnixMs is null ? $"#{sequence} was journaled before receive times were kept: resolved by the agent's write time" : null;
        if (disk.ResyncRanges.Covering(sequence) is not { } range)
            return new ResolvedTime(sequence, null, byAgent) { ReceivedUnixMs = point.ReceivedUnixMs, AgentTimeUnixMs = point.AgentTimeUnixMs };
        var clamped = disk.ResyncRanges.LastConsistentAtOrBefore(sequence);
        if (clamped < disk.Retention.Window().OldestSequence)
            throw new PointInsideResyncException(diskId, sequence, range);
        var times = disk.Retention.TimesOf(clamped);
        return new ResolvedTime(clamped, sequence, $"#{sequence} is inside a {range}; clamped to #{clamped}, the last state before it" + (byAgent is null ? "" : $"; {byAgent}"))
            { ReceivedUnixMs = times.ReceivedUnixMs, AgentTimeUnixMs = times.AgentTimeUnixMs };
    }

    /// <summary>
    /// The newest sequence of <paramref name="diskId"/> that is a state the source had: what is durable here, or the last
    /// sequence before a running resync. The "latest" point a failover uses. 0 when there is none yet.
    /// </summary>
    public async Task<long> LatestConsistentSequenceAsync(string diskId)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        return disk.ResyncRanges.LastConsistentAtOrBefore(disk.DurableThrough);
    }

    /// <summary>When this master target received <paramref name="sequence"/> of <paramref name="diskId"/> (its clock) and the agent's stamp of it.</summary>
    public async Task<PointTimes> PointTimesAsync(string diskId, long sequence)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        return disk.Retention.TimesOf(sequence);
    }

    /// <summary>SHA-256 of <paramref name="diskId"/> at <paramref name="sequence"/> read through a point-in-time view (what an export serves).</summary>
    public async Task<string> ViewSha256Async(string diskId, long sequence, CancellationToken ct)
    {
        using var view = await OpenViewAsync(diskId, sequence).ConfigureAwait(false);
        return await Task.Run(() =>
        {
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buffer = new byte[1 << 20];
            for (long offset = 0; offset < view.Size; offset += buffer.Length)
            {
                ct.ThrowIfCancellationRequested();
                var n = (int)Math.Min(buffer.Length, view.Size - offset);
                view.Read(offset, buffer.AsSpan(0, n));
                sha.AppendData(buffer, 0, n);
            }
            return Convert.ToHexStringLower(sha.GetHashAndReset());
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// SHA-256 of <paramref name="diskId"/> at <paramref name="sequence"/> replayed the long way (base image, then the journal
    /// record by record) into a scratch image under <paramref name="scratchDirectory"/>, deleted afterwards.
    /// </summary>
    public async Task<string> ReplaySha256Async(string diskId, long sequence, string scratchDirectory, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        RefuseInsideResync(disk, sequence);
        using var pin = disk.Retention.OpenView(sequence);
        Directory.CreateDirectory(scratchDirectory);
        var scratch = Path.Combine(scratchDirectory, $"{diskId}@{sequence}-{Guid.NewGuid():n}.replay");
        try
        {
            var result = await Task.Run(() => new SiteRecovery.Journal.PointInTime.PointInTimeBuilder(_compression).ReplayFromBaseAsync(pin, disk.Retention.Journal, scratch, ct), ct).ConfigureAwait(false);
            return result.Sha256.ToLowerInvariant();
        }
        finally { File.Delete(scratch); }
    }

    /// <summary>The recoverable range of <paramref name="diskId"/> now.</summary>
    public async Task<RetentionWindow> RetentionWindowAsync(string diskId)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        return disk.Retention.Window();
    }
}

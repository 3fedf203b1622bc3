using System.Collections.Concurrent;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The writer of each disk (see <see cref="WriterBindingRules"/>): every agent hello is verified before anything else,
/// each of its disks decided against its binding, and the bindings written before the session is answered. A refusal
/// names the disk and both fingerprints and is reported once per (disk, writer, reason) as an alert.
/// </summary>
public sealed partial class ProcessServer
{
    WriterBindings? _writerBindings;
    WriterBindings Writers => _writerBindings ??= new WriterBindings(_options.CacheDirectory);
    // What was last reported per disk, so a refused writer retrying every few seconds makes one journal event, not one a retry.
    readonly ConcurrentDictionary<string, (string Offered, WriterRefusal Reason)> _reportedRefusals = new();
    // Per source: the epoch of its live control connection; an older or equal one is a replay.
    readonly ConcurrentDictionary<string, long> _controlEpochs = new();

    /// <summary>The disk's bound writer, or null (none, or its binding file is unreadable: said in the hello's refusal).</summary>
    public WriterBinding? WriterOf(string diskId)
    {
        try { return Writers.Get(diskId); }
        catch (DurableFileUnreadableException) { return null; }
    }

    /// <summary>
    /// Decides a disk hello's writer for each disk it offers: null when every disk is accepted (bindings then durable),
    /// else the refusal to answer (nothing recorded for any disk).
    /// </summary>
    internal async Task<string?> AdmitDiskWriterAsync(Hello hello, CancellationToken ct)
    {
        // A disk id names the directory its binding lives in: checked before any path is made from it.
        if (hello.Disks.FirstOrDefault(d => !PathNames.IsOneComponent(d.DiskId)) is { } badName)
            return $"disk id '{badName.DiskId}' is not a valid name";
        var (writer, bad, detail) = HelloSignature.Verify(hello);
        if (writer is null)
        {
            // An unsigned hello names no writer to blame: only a forged signature against a bound disk is reported.
            if (bad == WriterRefusal.BadSignature)
                foreach (var d in hello.Disks)
                    if (WriterOf(d.DiskId) is { } b) ReportRefusal(d.DiskId, b.Fingerprint, "(unverified)", bad.Value, detail!);
            return $"{detail} ({bad})";
        }
        await Writers.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var decisions = new List<(string DiskId, WriterDecision Decision, WriterBinding? Bound)>();
            foreach (var offer in hello.Disks)
            {
                WriterBinding? bound;
                try { bound = Writers.Get(offer.DiskId); }
                catch (DurableFileUnreadableException e) { return e.Message; }
                decisions.Add((offer.DiskId, WriterBindingRules.Decide(offer.DiskId, bound, writer), bound));
            }
            if (decisions.FirstOrDefault(d => !d.Decision.Accepted) is { Decision: not null } refused)
            {
                ReportRefusal(refused.DiskId, refused.Bound?.Fingerprint, writer.Fingerprint, refused.Decision.Refusal!.Value, refused.Decision.Detail!);
                return refused.Decision.Detail;
            }
            foreach (var (diskId, decision, _) in decisions) Writers.Save(diskId, decision.Binding!);
            return null;
        }
        finally { Writers.Gate.Release(); }
    }

    /// <summary>A control hello's writer: null when accepted, else the refusal to answer.</summary>
    internal async Task<string?> AdmitControlWriterAsync(Hello hello, CancellationToken ct)
    {
        var (writer, bad, detail) = HelloSignature.Verify(hello);
        if (writer is null) return $"{detail} ({bad})";
        await Writers.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var bindings = Writers.All().ToList();
            var decision = WriterBindingRules.DecideControl(bindings, writer);
            if (!decision.Accepted)
            {
                foreach (var (diskId, b) in bindings.Where(b => b.Binding.SourceId == writer.SourceId))
                    ReportRefusal(diskId, b.Fingerprint, writer.Fingerprint, decision.Refusal!.Value, decision.Detail!);
                return decision.Detail;
            }
            if (_controlEpochs.TryGetValue(writer.SourceId, out var live) && writer.Epoch <= live)
                return $"control connection of {writer.SourceId}: epoch {writer.Epoch}, not above its live connection's epoch {live} ({WriterRefusal.StaleEpoch})";
            _controlEpochs[writer.SourceId] = writer.Epoch;
            return null;
        }
        finally { Writers.Gate.Release(); }
    }

    void ReportRefusal(string diskId, string? bound, string offered, WriterRefusal reason, string detail)
    {
        _log($"process server: {detail}");
        var key = (offered, reason);
        if (_reportedRefusals.TryGetValue(diskId, out var last) && last == key) return;
        _reportedRefusals[diskId] = key;
        _events.WriterRefused(diskId, reason, bound, offered, detail);
    }

    /// <summary>
    /// An operator releases the disk's writer binding (a machine reinstalled with a new agent): the binding file is removed
    /// durably, the disk's live session (if any) is closed, and the next verified writer binds. False when the disk has
    /// no binding here (nothing changed).
    /// </summary>
    public async Task<bool> ReleaseWriterAsync(string diskId, CancellationToken ct)
    {
        if (!PathNames.IsOneComponent(diskId)) return false;
        await Writers.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!Writers.Release(diskId)) return false;
            _reportedRefusals.TryRemove(diskId, out _);
            if (_agentByDisk.TryGetValue(diskId, out var session)) session.Close();
            _log($"process server: disk {diskId}: writer binding released by an operator; the next writer to say hello binds");
            return true;
        }
        finally { Writers.Gate.Release(); }
    }

    /// <summary>The operator keeps the bound writer: the refusals reported so far are dismissed (a new one is reported again).</summary>
    public bool DismissWriterRefusals(string diskId) => _reportedRefusals.TryRemove(diskId, out _) | WriterOf(diskId) is not null;
}

/// <summary>A session's disk was taken over by a newer session of its writer: the old one ends, having stored nothing more.</summary>
sealed class SessionFencedException(string message) : Exception(message);

using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>A disk's one writer: its key's fingerprint, the highest epoch it has used for the disk, and its source id.</summary>
public sealed record WriterBinding(string Fingerprint, long Epoch, string SourceId);

/// <summary>What to do with a verified writer's hello for one disk.</summary>
public enum WriterDecisionKind
{
    /// <summary>No writer is bound: this one becomes the disk's writer.</summary>
    Bind,
    /// <summary>The bound writer at a higher epoch: its binding moves up and every older session of the disk is fenced.</summary>
    Replace,
    /// <summary>Refused: see <see cref="WriterDecision.Refusal"/>.</summary>
    Refuse,
}

/// <summary>The decision, the binding to record when accepted, and, when refused, why (reason and text).</summary>
public sealed record WriterDecision(WriterDecisionKind Kind, WriterBinding? Binding, WriterRefusal? Refusal = null, string? Detail = null)
{
    public bool Accepted => Kind != WriterDecisionKind.Refuse;
}

/// <summary>
/// The writer rules of a disk, pure so every hop decides alike and tests go straight at them:
/// <list type="bullet">
/// <item>a disk has one writer identity (a key); a hello from another key is refused naming both fingerprints, never a secret;</item>
/// <item>the bound writer at a higher epoch replaces its older session at once (a half-open one included), which is fenced;</item>
/// <item>the bound writer at an equal or lower epoch is refused as stale (a replayed hello, or a session older than the live one);</item>
/// <item>only an operator's release unbinds a disk; then the next verified writer binds.</item>
/// </list>
/// </summary>
public static class WriterBindingRules
{
    public static WriterDecision Decide(string diskId, WriterBinding? bound, VerifiedWriter offered)
    {
        ArgumentNullException.ThrowIfNull(offered);
        var binding = new WriterBinding(offered.Fingerprint, offered.Epoch, offered.SourceId);
        if (bound is null) return new WriterDecision(WriterDecisionKind.Bind, binding);
        if (!string.Equals(bound.Fingerprint, offered.Fingerprint, StringComparison.Ordinal))
            return new WriterDecision(WriterDecisionKind.Refuse, null, WriterRefusal.DifferentWriter,
                $"disk {diskId} is bound to writer {HelloSignature.Short(bound.Fingerprint)} (source {bound.SourceId}); writer {HelloSignature.Short(offered.Fingerprint)} (source {offered.SourceId}) is refused ({WriterRefusal.DifferentWriter}). If the machine was reinstalled, release the binding: srctl writer release {diskId}");
        if (offered.Epoch <= bound.Epoch)
            return new WriterDecision(WriterDecisionKind.Refuse, null, WriterRefusal.StaleEpoch,
                $"disk {diskId}: writer {HelloSignature.Short(offered.Fingerprint)} offered epoch {offered.Epoch}, not above its epoch {bound.Epoch} ({WriterRefusal.StaleEpoch}: a replayed or outdated hello)");
        return new WriterDecision(WriterDecisionKind.Replace, binding);
    }

    /// <summary>
    /// A control hello (no disks) from <paramref name="offered"/>: refused when any disk bound to its source id is bound
    /// to another key, so bookmark and hold requests reach only the writer of the disks they name.
    /// </summary>
    public static WriterDecision DecideControl(IEnumerable<(string DiskId, WriterBinding Binding)> bindings, VerifiedWriter offered)
    {
        ArgumentNullException.ThrowIfNull(offered);
        foreach (var (disk, b) in bindings)
            if (b.SourceId == offered.SourceId && !string.Equals(b.Fingerprint, offered.Fingerprint, StringComparison.Ordinal))
                return new WriterDecision(WriterDecisionKind.Refuse, null, WriterRefusal.ControlOfOtherWriter,
                    $"control connection of {offered.SourceId}: its disk {disk} is bound to writer {HelloSignature.Short(b.Fingerprint)}; writer {HelloSignature.Short(offered.Fingerprint)} is refused ({WriterRefusal.ControlOfOtherWriter})");
        return new WriterDecision(WriterDecisionKind.Bind, new WriterBinding(offered.Fingerprint, offered.Epoch, offered.SourceId));
    }
}

namespace SiteRecovery.Contracts.Control;

/// <summary>What an alert is about; together with the target id it is the alert's key.</summary>
public enum AlertKind
{
    /// <summary>A protected disk's RPO is over its threshold (target: disk id).</summary>
    DiskRpoExceeded,
    /// <summary>At least one disk of a machine is over its RPO threshold (target: machine id).</summary>
    MachineRpoExceeded,
    /// <summary>A process server's cache is over the high-water mark (target: process server id).</summary>
    CacheHighWater,
    /// <summary>A master target has no usable data-disk slot left (target: master target id).</summary>
    MasterTargetOutOfSlots,
    /// <summary>The newest application-consistent request of a machine yielded a crash-consistent point (target: machine id); cleared by a later app-consistent point.</summary>
    AppConsistencyFailed,
    /// <summary>A hop's storage failed under a disk and its replication stopped (target: disk id); cleared when the hop reopens its storage and replication resumes.</summary>
    DiskReplicationStopped,
    /// <summary>A disk's agent clock is off the master target's by more than the configured bound (target: disk id); cleared when back within it.</summary>
    AgentClockSkew,
    /// <summary>The newest drill (test failover) of a recovery plan did not pass: its report failed, or one of its steps failed (target: plan id); cleared when a later drill of the plan passes.</summary>
    DrillFailed,
    /// <summary>A disk's process server refused a writer of it: another key with the same disk, a replayed epoch, a bad signature (target: disk id); cleared when an operator releases or keeps the binding (srctl writer release|keep).</summary>
    DiskWriterRefused,
}

/// <summary>Identity of an alert: at most one alert per key is active.</summary>
public readonly record struct AlertKey(AlertKind Kind, string Target)
{
    public override string ToString() => $"{Kind}/{Target}";
}

/// <summary>For one (kind, target): whether the alert condition holds now, and why (e.g. "RPO 912 s over the 900 s threshold of group g1").</summary>
public sealed record Observation(AlertKind Kind, string Target, bool Holds, string Detail)
{
    public AlertKey Key => new(Kind, Target);
}

/// <summary>Any command of the AlertMonitor (persistence id <c>alerts</c>).</summary>
public interface IAlertCommand;

/// <summary>
/// Reports the current truth of some conditions. The monitor raises an alert for each observation that holds and is not
/// active, and clears each active alert whose observation does not hold. Alerts not mentioned are left as they are.
/// Observing the same facts twice emits nothing. Answer: <see cref="CommandResult"/>.
/// </summary>
public sealed record Observe(IReadOnlyList<Observation> Observations, long NowUnixMs) : IAlertCommand;

/// <summary>Query of the AlertMonitor; answer <see cref="AlertList"/> (active alerts first, then cleared ones, newest first).</summary>
public sealed record GetAlerts(bool ActiveOnly = false);

public sealed record AlertView(AlertKind Kind, string Target, string Detail, long RaisedAtUnixMs, long? ClearedAtUnixMs)
{
    public bool Active => ClearedAtUnixMs is null;
    public AlertKey Key => new(Kind, Target);
}

public sealed record AlertList(IReadOnlyList<AlertView> Alerts);

// ---- events ----
/// <summary>Marker of the alert events (persisted by the AlertMonitor).</summary>
public interface IAlertEvent : IControlEvent
{
    AlertKind Kind { get; }
    string Target { get; }
}

/// <summary>Marker of the AlertMonitor's snapshot state.</summary>
public interface IAlertSnapshot : IControlSnapshot;

[Manifest("alert-raised.v1")]
public sealed record AlertRaised(AlertKind Kind, string Target, string Detail, long AtUnixMs) : IAlertEvent;

[Manifest("alert-cleared.v1")]
public sealed record AlertCleared(AlertKind Kind, string Target, long AtUnixMs) : IAlertEvent;

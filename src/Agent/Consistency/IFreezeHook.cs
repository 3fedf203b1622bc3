namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// One pre-freeze / post-thaw step run by the <see cref="ApplicationFreezer"/>. A hook reports, never throws for
/// an expected failure; it enforces <c>timeout</c> itself by killing what it started.
/// </summary>
public interface IFreezeHook
{
    /// <summary>What the hook is, for logs and results (e.g. <c>fsfreeze /data</c>, <c>script /opt/hooks/db.sh</c>); never a secret.</summary>
    string Name { get; }

    /// <summary>Quiesces the application or filesystem. <see cref="HookOutcome.Missing"/> means nothing was run.</summary>
    Task<HookResult> FreezeAsync(TimeSpan timeout, CancellationToken ct);

    /// <summary>Undoes <see cref="FreezeAsync"/>; also called after a failed or timed-out freeze, so it must tolerate "not frozen".</summary>
    Task<HookResult> ThawAsync(TimeSpan timeout, CancellationToken ct);
}

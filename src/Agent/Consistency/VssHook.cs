namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// The Windows hook point: where a Volume Shadow Copy requester belongs (ask the VSS writers to freeze, insert the
/// bookmark while they hold, let them thaw). No requester is built into this agent yet and nothing here has run on
/// Windows: the hook reports <see cref="HookOutcome.Missing"/>, so an application-consistent request yields a
/// flagged crash-consistent point and an alert, never a point that claims consistency it does not have. Until then a
/// VSS-aware tool can be driven through <see cref="ScriptHook"/>.
/// </summary>
public sealed class VssHook : IFreezeHook
{
    public string Name => "vss";

    public static string Unavailable => OperatingSystem.IsWindows()
        ? "no VSS requester is built into this agent yet (use --freeze-script with a VSS-aware tool)"
        : "VSS is only available on Windows";

    public Task<HookResult> FreezeAsync(TimeSpan timeout, CancellationToken ct) =>
        Task.FromResult(new HookResult(HookOutcome.Missing, $"{Name} freeze: {Unavailable}"));

    public Task<HookResult> ThawAsync(TimeSpan timeout, CancellationToken ct) =>
        Task.FromResult(new HookResult(HookOutcome.Missing, $"{Name} thaw: {Unavailable}"));
}

using System.Diagnostics;

namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// Runs the configured hooks around an application-consistent bookmark.
/// <list type="bullet">
/// <item>Freeze runs the hooks in order and stops at the first one that does not succeed (the point is crash-consistent
/// anyway; freezing more would only stall the applications longer). Its result is that hook's.</item>
/// <item>Thaw runs, in reverse order, every hook whose freeze was attempted — including the one that failed or timed out,
/// since it may have frozen part of its work — and every thaw runs even when an earlier one fails. A hook that answered
/// Missing ran nothing, so it has nothing to thaw. Cancelling <see cref="ThawAsync"/>'s token skips no thaw.</item>
/// <item>Each hook phase is bounded by the hook timeout (killed with its process tree past it), so a freeze takes at most
/// hooks × timeout. If the thaw does not come within <see cref="FreezeOptions.MaxFrozen"/> after the freeze (a caller
/// lost mid-bookmark), the freezer thaws by itself; the late <see cref="ThawAsync"/> then answers Failed saying so, so
/// the caller can tell the point is not application-consistent.</item>
/// <item>Freeze/thaw pairs are serialized: a second <see cref="FreezeAsync"/> waits for the first pair's thaw (or the
/// self-thaw above). A caller calls ThawAsync once per FreezeAsync.</item>
/// </list>
/// Logs name each hook with its outcome and duration; hook output appears only shortened inside a failure's detail.
/// </summary>
public sealed class ApplicationFreezer : IApplicationFreezer, IAsyncDisposable
{
    readonly IReadOnlyList<IFreezeHook> _hooks;
    readonly TimeSpan _hookTimeout;
    readonly TimeSpan _maxFrozen;
    readonly Action<string> _log;
    readonly SemaphoreSlim _pair = new(1, 1);
    readonly SemaphoreSlim _state = new(1, 1);
    Session? _open;
    string? _selfThawed;

    sealed class Session(IReadOnlyList<IFreezeHook> attempted)
    {
        public IReadOnlyList<IFreezeHook> Attempted { get; } = attempted;
        public Timer? Watchdog { get; set; }
    }

    public ApplicationFreezer(IReadOnlyList<IFreezeHook> hooks, TimeSpan hookTimeout, TimeSpan maxFrozen, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(hooks);
        if (hookTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(hookTimeout), hookTimeout, "hook timeout must be more than 0");
        if (maxFrozen <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(maxFrozen), maxFrozen, "freeze limit must be more than 0");
        _hooks = hooks.ToList();
        _hookTimeout = hookTimeout;
        _maxFrozen = maxFrozen;
        _log = log;
    }

    /// <summary>The freezer for validated options (see <see cref="FreezeOptions.Validate"/>).</summary>
    public static ApplicationFreezer FromOptions(FreezeOptions options, Action<string> log) =>
        new(options.Hooks(), options.HookTimeout, options.MaxFrozen, log);

    public IReadOnlyList<IFreezeHook> Hooks => _hooks;

    public TimeSpan HookTimeout => _hookTimeout;

    public bool Configured => _hooks.Count > 0;

    /// <summary>True while a freeze has not been thawed yet.</summary>
    public bool Frozen => Volatile.Read(ref _open) is not null;

    public async Task<HookResult> FreezeAsync(CancellationToken ct)
    {
        try { await _pair.WaitAsync(ct).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            return new HookResult(HookOutcome.Failed, "freeze cancelled while an earlier freeze was still waiting for its thaw");
        }

        var attempted = new List<IFreezeHook>();
        var result = HookResult.Success;
        foreach (var hook in _hooks)
        {
            if (ct.IsCancellationRequested)
            {
                result = new HookResult(HookOutcome.Failed, $"freeze cancelled before {hook.Name}");
                break;
            }
            var r = await RunAsync(hook, "freeze", (h, t) => h.FreezeAsync(t, ct)).ConfigureAwait(false);
            if (r.Outcome != HookOutcome.Missing) attempted.Add(hook);
            if (!r.Succeeded) { result = r; break; }
        }

        var session = new Session(attempted);
        await _state.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            _selfThawed = null;
            _open = session;
            session.Watchdog = new Timer(_ => _ = SelfThawAsync(session), null, _maxFrozen, Timeout.InfiniteTimeSpan);
        }
        finally { _state.Release(); }
        return result;
    }

    public async Task<HookResult> ThawAsync(CancellationToken ct)
    {
        await _state.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            var session = _open;
            if (session is null)
            {
                var late = _selfThawed;
                _selfThawed = null;
                return late is null ? HookResult.Success : new HookResult(HookOutcome.Failed, late);
            }
            return await EndAsync(session).ConfigureAwait(false);
        }
        finally { _state.Release(); }
    }

    /// <summary>Thaws a freeze still in effect (agent shutdown).</summary>
    public async ValueTask DisposeAsync()
    {
        await _state.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_open is { } session)
            {
                _log("application freeze still in effect at shutdown: thawing");
                await EndAsync(session).ConfigureAwait(false);
            }
        }
        finally { _state.Release(); }
    }

    async Task SelfThawAsync(Session session)
    {
        await _state.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_open != session) return;
            _log($"application freeze: no thaw within {_maxFrozen.TotalSeconds:0.###} s; thawing now");
            var r = await EndAsync(session).ConfigureAwait(false);
            _selfThawed = $"the freeze was thawed by the agent after {_maxFrozen.TotalSeconds:0.###} s without a thaw request"
                          + (r.Succeeded ? "" : $" ({r.Detail})") + "; a point marked after that is not application-consistent";
        }
        finally { _state.Release(); }
    }

    /// <summary>Under <see cref="_state"/>: thaws every attempted hook in reverse, closes the session, lets the next freeze in.</summary>
    async Task<HookResult> EndAsync(Session session)
    {
        session.Watchdog?.Dispose();
        var failures = new List<HookResult>();
        try
        {
            for (var i = session.Attempted.Count - 1; i >= 0; i--)
            {
                var r = await RunAsync(session.Attempted[i], "thaw", (h, t) => h.ThawAsync(t, CancellationToken.None)).ConfigureAwait(false);
                if (!r.Succeeded) failures.Add(r);
            }
        }
        finally
        {
            // Only now is nothing frozen any more (Frozen turns false after the last thaw, not before).
            _open = null;
            _pair.Release();
        }
        return failures.Count == 0
            ? HookResult.Success
            : new HookResult(failures[0].Outcome, string.Join("; ", failures.Select(f => f.Detail)));
    }

    /// <summary>One hook phase: bounded even if the hook ignores its timeout, never throws, always logged.</summary>
    async Task<HookResult> RunAsync(IFreezeHook hook, string phase, Func<IFreezeHook, TimeSpan, Task<HookResult>> run)
    {
        var clock = Stopwatch.StartNew();
        HookResult r;
        try
        {
            // The hook kills its own process at the timeout; this bound only covers a hook that fails to.
            r = await run(hook, _hookTimeout).WaitAsync(_hookTimeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            r = new HookResult(HookOutcome.TimedOut, $"{hook.Name} {phase}: did not return within {_hookTimeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            r = new HookResult(HookOutcome.Failed, $"{hook.Name} {phase}: {e.GetType().Name}: {e.Message}");
        }
        _log($"{phase} hook {hook.Name}: {r.Outcome} in {clock.ElapsedMilliseconds} ms{(r.Detail is null ? "" : " — " + r.Detail)}");
        return r;
    }
}

namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// Which application-consistency hooks the agent runs (flags <c>--freeze-script</c>, <c>--freeze-mount</c>,
/// <c>--freeze-vss</c>, <c>--hook-timeout</c>). Order on freeze: scripts (quiesce the application first), then the
/// mounts, then VSS, each kind in the order given; thaw runs in reverse.
/// </summary>
public sealed record FreezeOptions(IReadOnlyList<string> Scripts, IReadOnlyList<string> Mounts, bool Vss = false)
{
    public static readonly TimeSpan DefaultHookTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan MaxHookTimeout = TimeSpan.FromMinutes(10);

    public static FreezeOptions None { get; } = new([], []);

    /// <summary>Per hook and per phase; a hook over it is killed and reported TimedOut. Freeze time ≤ hooks × this.</summary>
    public TimeSpan HookTimeout { get; init; } = DefaultHookTimeout;

    /// <summary>Longest a freeze may stay in effect without its thaw before the freezer thaws it by itself.</summary>
    public TimeSpan MaxFrozen { get; init; } = TimeSpan.FromSeconds(60);

    public bool Any => Scripts.Count > 0 || Mounts.Count > 0 || Vss;

    /// <summary>
    /// Start-up checks; throws <see cref="ArgumentException"/> naming the flag and the value. A script or mount that
    /// is missing now is an error; one that disappears later is reported Missing at freeze time.
    /// <paramref name="agentPaths"/> are files the agent itself writes (disks, state): their filesystem must not be frozen.
    /// </summary>
    public FreezeOptions Validate(IEnumerable<(string What, string Path)> agentPaths)
    {
        if (HookTimeout <= TimeSpan.Zero || HookTimeout > MaxHookTimeout)
            throw new ArgumentException($"--hook-timeout {HookTimeout.TotalSeconds:0.###}: must be more than 0 and at most {MaxHookTimeout.TotalSeconds:0} seconds");
        if (MaxFrozen <= TimeSpan.Zero) throw new ArgumentException($"freeze limit {MaxFrozen}: must be more than 0");
        foreach (var s in Scripts)
        {
            if (string.IsNullOrWhiteSpace(s)) throw new ArgumentException("--freeze-script: an empty path was given");
            if (ScriptHook.Unusable(Path.GetFullPath(s)) is { } why) throw new ArgumentException($"--freeze-script {why}");
        }
        DuplicateCheck("--freeze-script", Scripts.Select(Path.GetFullPath));
        foreach (var m in Mounts)
        {
            if (string.IsNullOrWhiteSpace(m)) throw new ArgumentException("--freeze-mount: an empty path was given");
            var mount = MountTable.Normalize(m);
            if (FsFreezeHook.Unusable(mount) is { } why) throw new ArgumentException($"--freeze-mount {mount}: {why}");
            foreach (var (what, path) in agentPaths)
                if (MountTable.MountOf(path) == mount)
                    throw new ArgumentException($"--freeze-mount {mount}: the agent's own {what} ('{path}') is on this filesystem; freezing it would stall the agent");
        }
        DuplicateCheck("--freeze-mount", Mounts.Select(MountTable.Normalize));
        return this;
    }

    static void DuplicateCheck(string flag, IEnumerable<string> values)
    {
        var dup = values.GroupBy(v => v, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"{flag} '{dup.Key}' is given twice");
    }

    /// <summary>The hooks in freeze order.</summary>
    public IReadOnlyList<IFreezeHook> Hooks() =>
    [
        .. Scripts.Select(s => (IFreezeHook)new ScriptHook(s)),
        .. Mounts.Select(m => (IFreezeHook)new FsFreezeHook(m)),
        .. Vss ? [new VssHook()] : Array.Empty<IFreezeHook>(),
    ];
}

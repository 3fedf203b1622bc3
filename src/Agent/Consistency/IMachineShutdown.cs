namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// How a planned failover shuts the protected machine down, after the freeze hooks and before the exports turn read-only:
/// the operator's script (<see cref="ShutdownCommand"/>, <c>--shutdown-command</c>) or qemu's ACPI power button over the
/// machine's QMP socket (<see cref="QmpShutdown"/>, <c>--shutdown-qmp</c>); <see cref="MachineShutdown.FromOptions"/> picks
/// at most one. A failure is answered, never thrown, and the quiesce then makes nothing read-only.
/// </summary>
public interface IMachineShutdown
{
    /// <summary>The kind of shutdown, for the stop's text the node quotes (<c>shutdown command</c>, <c>QMP shutdown</c>).</summary>
    string Kind { get; }

    /// <summary><see cref="Kind"/> and what it works on, for logs and failures (<c>shutdown command /opt/off.sh</c>); never a secret.</summary>
    string Name { get; }

    /// <summary>
    /// Shuts the machine down within <paramref name="timeout"/>. Ok: the machine is down or going down, so its NBD clients
    /// are about to leave; <see cref="HookResult.Detail"/> then says what was seen, worded to follow <see cref="Kind"/> or
    /// <see cref="Name"/> (<c>exited 0 in 40 ms</c>). Otherwise the outcome and a detail naming
    /// the reason (not found, refused, no answer, still running at the timeout).
    /// </summary>
    Task<HookResult> ShutDownAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>The agent's one choice of <see cref="IMachineShutdown"/>.</summary>
public static class MachineShutdown
{
    /// <summary>
    /// Start-up check of <c>--shutdown-command</c> and <c>--shutdown-qmp</c>: at most one; null when neither is given (a bare
    /// export, whose clients finish on their own); <paramref name="hookTimeout"/> bounds a probe of the QMP socket. Throws <see cref="ArgumentException"/> naming the flag and the value;
    /// <paramref name="log"/> hears warnings that do not stop the start (a QMP socket not there yet).
    /// </summary>
    public static IMachineShutdown? FromOptions(string? command, string? qmpSocket, TimeSpan hookTimeout, Action<string> log)
    {
        if (command is not null && qmpSocket is not null)
            throw new ArgumentException($"--shutdown-command '{command}' and --shutdown-qmp '{qmpSocket}' are both given: a planned failover shuts the machine down one way; give one");
        return (IMachineShutdown?)ShutdownCommand.Validate(command) ?? QmpShutdown.Validate(qmpSocket, hookTimeout, log);
    }
}

using System.Net;

namespace SiteRecovery.Agent.Replication;

/// <summary>A process server to replicate to: its data-path address and, when known, its component id (the pin).</summary>
public sealed record ProcessServerTarget(EndPoint Address, string? Id)
{
    public override string ToString() => Id is null ? Address.ToString()! : $"{Id} at {Address}";
}

/// <summary>
/// Where the agent's two connections go: read at every connection attempt, so a placement that moves the machine to
/// another process server is followed by the next attempt. A move cancels <see cref="Moved"/> of the route it replaced,
/// which ends the connections to the old process server at once (they would otherwise live on while it stays up). What
/// the new process server holds is settled by its <c>resume</c> as after any reconnect: resend from there, or resync the gap.
/// </summary>
public sealed class ProcessServerRoute(ProcessServerTarget first)
{
    readonly object _gate = new();
    ProcessServerTarget _current = first;
    CancellationTokenSource _moved = new();

    public ProcessServerTarget Current { get { lock (_gate) return _current; } }

    /// <summary>Cancelled when <see cref="Current"/> changes after this was read.</summary>
    public CancellationToken Moved { get { lock (_gate) return _moved.Token; } }

    /// <summary>Raised when a connection to <see cref="Current"/> was lost or refused: the placement is worth asking again.</summary>
    public event Action<ProcessServerTarget>? Lost;

    /// <summary>Moves the route to <paramref name="target"/>; false when it is already there.</summary>
    public bool MoveTo(ProcessServerTarget target)
    {
        CancellationTokenSource old;
        lock (_gate)
        {
            if (_current == target) return false;
            _current = target;
            old = _moved;
            _moved = new CancellationTokenSource();
        }
        // Not disposed: a connection may still be registering on its token.
        old.Cancel();
        return true;
    }

    public void ReportLost() => Lost?.Invoke(Current);
}

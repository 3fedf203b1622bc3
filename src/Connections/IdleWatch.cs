using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// Closes an answered session whose peer says nothing for its idle timeout, so a peer that said hello and went silent
/// (or died without a FIN) does not hold a connection and its buffers for ever. Silence is counted only while the
/// session listens (<see cref="FrameReader.WaitingSince"/>): a receiver busy with an fsync, or holding an agent back while
/// its cache is full, is not waiting for its peer. A live peer stays open by sending <see cref="Keepalive"/>s when quiet
/// (asked for in the resume, <see cref="SessionHandshake.ResumeFor"/>).
/// </summary>
public sealed class IdleWatch : IDisposable
{
    readonly Timer _timer;
    int _expired;

    IdleWatch(FrameReader reader, TimeSpan timeout, Action close)
    {
        Timeout = timeout;
        // Checked four times a timeout: a silent session is closed between one and one and a quarter timeouts.
        var period = TimeSpan.FromMilliseconds(Math.Max(1, timeout.TotalMilliseconds / 4));
        _timer = new Timer(_ =>
        {
            var since = reader.WaitingSince;
            if (since == 0 || Environment.TickCount64 - since < (long)timeout.TotalMilliseconds) return;
            if (Interlocked.Exchange(ref _expired, 1) == 0) close();
        }, null, period, period);
    }

    /// <summary>
    /// Watches a session answered with <paramref name="answered"/>: only one that asked its peer for keepalives is
    /// watched (an older peer cannot keep a quiet session open), so null otherwise. <paramref name="close"/> ends the
    /// session (closing its socket); say <see cref="Reason"/> when it ends with <see cref="Expired"/> set.
    /// </summary>
    public static IdleWatch? For(Resume answered, FrameReader reader, TimeSpan? timeout, Action close) =>
        answered.KeepaliveMs > 0 && timeout is { } t ? new IdleWatch(reader, t, close) : null;

    public TimeSpan Timeout { get; }

    /// <summary>True once the watch closed the session for its silence.</summary>
    public bool Expired => Volatile.Read(ref _expired) == 1;

    /// <summary>Why the session was closed, for the log line that names its peer.</summary>
    public string Reason => $"closed after {Timeout.TotalSeconds:0.###} s with nothing received (idle-timeout)";

    public void Dispose() => _timer.Dispose();
}

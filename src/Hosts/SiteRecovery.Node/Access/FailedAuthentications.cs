using System.Threading.RateLimiting;

namespace SiteRecovery.Node.Access;

/// <summary>
/// Counts failed authentications (bad bearer tokens, wrong passphrase proofs) per source address in fixed windows
/// (<c>siterecovery.api.failed-authentications</c> per <c>failed-authentication-window</c>). A source that has used up
/// its window is refused before its credentials are looked at, so guessing gets a handful of tries per window.
/// </summary>
public sealed class FailedAuthentications(ApiSettings settings) : IDisposable
{
    readonly PartitionedRateLimiter<string> _failures = PartitionedRateLimiter.Create<string, string>(source =>
        RateLimitPartition.GetFixedWindowLimiter(source, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = settings.FailedAuthentications,
            Window = settings.FailedAuthenticationWindow,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public TimeSpan Window => settings.FailedAuthenticationWindow;

    /// <summary>Whether <paramref name="source"/> has no failure left in this window.</summary>
    public bool LockedOut(string source) => _failures.GetStatistics(source) is { CurrentAvailablePermits: <= 0 };

    public void Record(string source)
    {
        using var _ = _failures.AttemptAcquire(source);
    }

    public void Dispose() => _failures.Dispose();
}

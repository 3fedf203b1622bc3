using SiteRecovery.Connections;

namespace SiteRecovery.Agent.Host;

/// <summary>
/// <c>sragent run</c> keeps its certificate renewed by itself: a registered agent (<see cref="EnrollmentRecord"/> beside
/// its key) checks every <c>--certificate-check-interval</c> and renews by proof of its key once less than
/// <c>--certificate-renew-below</c> of the certificate's lifetime is left, as a node does for its components. A renewed
/// certificate takes effect at the next connection (its files are read at every connect). A failure is logged and tried
/// again at the next check: the old certificate stays valid until it ends.
/// </summary>
static class CertificateRenewalLoop
{
    public static async Task RunAsync(string folder, EnrollmentRecord record, double renewBelow, TimeSpan every, Action<string> log, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            do
            {
                try
                {
                    using var http = ComponentEnrollment.ApiClient(record.ApiUrl, record.ApiCaFile);
                    if (await ComponentEnrollment.RenewIfDueAsync(http, record.ConfigurationServerId, record.ComponentId, folder, renewBelow, DateTimeOffset.UtcNow, ct) is { } renewed)
                        log($"certificate renewed (same key {renewed.KeySha256[..16]}), valid until {renewed.NotAfter.ToUniversalTime():u}");
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    log($"certificate renewal failed, tried again in {every.TotalSeconds:0} s: {e.Message}");
                }
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }
}

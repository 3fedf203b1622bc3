using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Tests;

/// <summary>Listeners the isolation tests start inside a network namespace, and the wait until one really listens.</summary>
static class NamespaceListener
{
    /// <summary>
    /// Returns once something listens on TCP <paramref name="port"/> in <paramref name="netns"/> (as <c>ss</c> sees it);
    /// fails the test when <paramref name="listener"/> ended first or nothing listens within 15 s.
    /// </summary>
    public static async Task WaitListeningAsync(string netns, int port, Task<ProcessRun> listener, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (listener.IsCompleted) Assert.Fail($"the listener in {netns} ended before it was used: {BoundedProcess.Quote(await listener, 300)}");
            var ss = await BoundedProcess.RunAsync("ip", ["netns", "exec", netns, "ss", "-Hltn", $"sport = :{port}"], null, TimeSpan.FromSeconds(10), ct);
            if (ss.ExitCode == 0 && ss.StdOut.Trim().Length > 0) return;
            if (DateTime.UtcNow > deadline) Assert.Fail($"nothing listens on port {port} in {netns} within 15 s: {BoundedProcess.Quote(ss, 300)}");
            await Task.Delay(50, ct);
        }
    }
}

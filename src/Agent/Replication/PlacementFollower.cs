using SiteRecovery.Connections;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// Where a registered agent started without <c>--process-server</c> learns where its machine's disks replicate to: the
/// configuration node of its enrollment (<see cref="EnrollmentRecord"/>), asked with proof of the agent's certificate
/// key (<see cref="PlacementProof"/>). Settings: <see cref="AgentOptions.Placement"/>.
/// </summary>
/// <param name="Enrollment">Where the agent registered (its <c>enrollment.json</c>).</param>
/// <param name="Directory">The folder of its key, certificate and enrollment.</param>
/// <param name="Interval">How often the placement is asked while nothing suggests a change (<c>--placement-check-interval</c>).</param>
public sealed record PlacementLookup(EnrollmentRecord Enrollment, string Directory, TimeSpan Interval);

/// <summary>
/// Follows the placement decision: asks at every <see cref="PlacementLookup.Interval"/> and at once when a connection to
/// the current process server is lost or refused (<see cref="ProcessServerRoute.Lost"/>), and moves the route when the
/// answer names another process server (<see cref="PlacementFollow"/>). Before the first placement, <c>start</c> is
/// called with it (the agent captures until then). Every refusal or unreachable API is logged once per distinct
/// message and asked again at the next turn: the agent never stops for it.
/// </summary>
public sealed class PlacementFollower(string machineId, PlacementLookup lookup, WriterIdentity key, Action<string> log)
{
    readonly SemaphoreSlim _askNow = new(0);
    string? _lastSaid;

    /// <summary>Asks once; a failure comes back as a <see cref="PlacementStep.Wait"/> naming it.</summary>
    public async Task<PlacementStep> AskAsync(ProcessServerTarget? current, CancellationToken ct)
    {
        try
        {
            using var http = ComponentEnrollment.ApiClient(lookup.Enrollment.ApiUrl, lookup.Enrollment.ApiCaFile);
            var answer = await PlacementProof.AskAsync(http, lookup.Enrollment, machineId, key, lookup.Directory, ct).ConfigureAwait(false);
            return PlacementFollow.Decide(current, answer);
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or InvalidDataException or IOException or TaskCanceledException
                                      or System.Text.Json.JsonException && !ct.IsCancellationRequested)
        {
            return new PlacementStep.Wait($"placement not known: {lookup.Enrollment.ApiUrl}: {e.Message}");
        }
    }

    /// <summary>
    /// Runs until <paramref name="ct"/>: before <paramref name="route"/> exists, waits for a placement and hands it to
    /// <paramref name="start"/>, which returns the route the agent's connections then follow.
    /// </summary>
    public async Task RunAsync(ProcessServerRoute? route, Func<ProcessServerTarget, ProcessServerRoute> start, CancellationToken ct)
    {
        if (route is not null) route.Lost += _ => AskSoon();
        while (!ct.IsCancellationRequested)
        {
            PlacementStep step;
            try { step = await AskAsync(route?.Current, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            switch (step)
            {
                case PlacementStep.Wait w:
                    Say(route is null
                        ? $"capturing: waiting for a placement ({w.Reason}); every write is kept in the activity log and nothing replicates"
                        : $"placement: {w.Reason}; replicating to process server {route.Current} meanwhile");
                    break;
                case PlacementStep.Go go when route is null:
                    Say($"placement: machine {machineId}'s disks are placed on process server {go.Target}");
                    route = start(go.Target);
                    route.Lost += _ => AskSoon();
                    break;
                case PlacementStep.Go go:
                    var from = route.Current;
                    if (route.MoveTo(go.Target)) Say($"placement moved machine {machineId}'s disks from process server {from} to {go.Target}; following");
                    break;
                case PlacementStep.Stay:
                    _lastSaid = null;
                    break;
            }
            try
            {
                await _askNow.WaitAsync(lookup.Interval, ct).ConfigureAwait(false);
                // Losses come in bursts (both connections, every retry): one ask answers them all.
                while (_askNow.CurrentCount > 0) _askNow.Wait(0, CancellationToken.None);
            }
            catch (OperationCanceledException) { return; }
        }
    }

    void AskSoon()
    {
        if (_askNow.CurrentCount == 0) _askNow.Release();
    }

    void Say(string message)
    {
        if (message == _lastSaid) return;
        _lastSaid = message;
        log(message);
    }
}

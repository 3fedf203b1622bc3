using SiteRecovery.Actors.Consistency;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The group-bookmark path of a node that runs the master target and the process server in one process (the
/// all-in-one node): a hold, commit or abort for a disk carried by that process server goes straight to its
/// agent routing, without the loopback control connection from master target to process server and back — two
/// fewer socket hops each way, twice per bookmark. Disks carried by another process server (split roles) take the
/// master target's path over that server's control connection, as on a node without a local process server.
/// Markers and the disks per machine are always the master target's: that is where durability is seen.
/// </summary>
public sealed class InProcessGroupBookmarkPath(MasterTargetServer target, Func<ProcessServer?> process) : IGroupBookmarkPath
{
    public IReadOnlyDictionary<string, IReadOnlyList<string>> DisksByMachine => target.DisksByMachine;

    public async Task<ControlMessage> AskAgentAsync(IAgentRequest request, TimeSpan timeout, CancellationToken ct)
    {
        var first = request.DiskIds.Order(StringComparer.Ordinal).FirstOrDefault();
        if (first is null || process() is not { } local || target.ProcessServerOf(first) != local.ServerId)
            return await target.AskAgentAsync(request, timeout, ct).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try { return await local.RouteToAgentAsync(request, cts.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The same words as the master target's path: the coordinator reads them as "path failed", not "refused".
            return request.Failed($"no answer within {timeout.TotalMilliseconds:0} ms");
        }
    }

    public Task<long> GroupMarkerDurableAsync(string diskId, string bookmarkId) => target.GroupMarkerDurableAsync(diskId, bookmarkId);

    public void ForgetGroupMarkers(string bookmarkId, IEnumerable<string> diskIds) => target.ForgetGroupMarkers(bookmarkId, diskIds);
}

using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// Requests from the master target (bookmarks, group holds) routed to the one agent connected for their disks, and the
/// master target's block hashes routed back to the agent that asked: apart because no record passes through them.
/// </summary>
public sealed partial class ProcessServer
{
    /// <summary>Passes a bookmark request to the agent that owns the disks and returns its answer.</summary>
    internal async Task<BookmarkInserted> RouteBookmarkAsync(BookmarkRequest req, CancellationToken ct)
    {
        // A marker the hops would refuse must never be numbered: the agent would resend it forever.
        if (DeltaValidation.BookmarkIdProblem(req.BookmarkId) is { } badId)
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), badId);
        var owners = req.DiskIds.Select(d => _agentByDisk.TryGetValue(d, out var s) ? s : null).Distinct().ToList();
        if (owners.Count != 1 || owners[0] is null)
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(),
                owners.Contains(null) ? $"no agent is connected for one of {string.Join(", ", req.DiskIds)}" : "the disks belong to more than one agent");
        using var answer = _bookmarks.Expect(req.RequestId);
        try
        {
            await owners[0]!.SendAsync(req, ct).ConfigureAwait(false);
            return await answer.Reply.WaitAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or ObjectDisposedException)
        {
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), $"agent did not answer: {e.Message}");
        }
    }

    /// <summary>
    /// Passes a group-hold request (hold, commit, abort) to the one agent connected for its disks and returns
    /// the agent's answer, or the request's own failure reply when the agent is not connected, the disks span
    /// agents, or no answer comes in time: the master target always hears back.
    /// </summary>
    internal async Task<ControlMessage> RouteToAgentAsync(IAgentRequest req, CancellationToken ct)
    {
        var owners = req.DiskIds.Select(d => _agentByDisk.TryGetValue(d, out var s) ? s : null).Distinct().ToList();
        if (owners.Count != 1 || owners[0] is null)
            return req.Failed(owners.Contains(null) ? $"no agent is connected for one of {string.Join(", ", req.DiskIds)}" : "the disks belong to more than one agent");
        var control = owners[0]!.AgentId is { } agent && _controlByAgent.TryGetValue(agent, out var c) ? c : null;
        using var answer = _agentReplies.Expect(req.RequestId);
        // A hold may run the application freeze first: it gets its whole lease before the process server gives up.
        var wait = req is HoldRequest h ? TimeSpan.FromMilliseconds(Math.Max(h.LeaseMs, 0) + 5000) : TimeSpan.FromSeconds(30);
        try
        {
            if (control is not null) control.Send((ControlMessage)req);
            else await owners[0]!.SendAsync((ControlMessage)req, ct).ConfigureAwait(false);
            return await answer.Reply.WaitAsync(wait, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or ObjectDisposedException)
        {
            return req.Failed($"agent did not answer: {e.Message}");
        }
    }

    /// <summary>Passes a master target's block hashes back to the agent that asked.</summary>
    internal async Task RouteHashReplyAsync(BlockHashReply reply, CancellationToken ct)
    {
        if (!_hashRequests.TryRemove(reply.RequestId, out var session)) return;
        try { await session.SendAsync(reply, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }
}

using System.Collections.Concurrent;

namespace SiteRecovery.Connections;

/// <summary>
/// Requests sent on a connection and not answered yet, by request id: the one table every hop matches replies with
/// (bookmarks, group holds and failover stops, block hashes). A reply nobody waits for any more (it came after its
/// timeout, or was never asked for) is dropped: <see cref="Complete"/> says false.
/// </summary>
/// <param name="completeOnReceiverThread">
/// True: what follows a reply runs on the thread that received it, with no thread-pool turn, as a control channel's
/// thread needs (see <see cref="ControlChannel"/>); that code must then never block. False: it runs on the pool.
/// </param>
public sealed class PendingReplies<TReply>(bool completeOnReceiverThread = false) where TReply : class
{
    readonly ConcurrentDictionary<string, TaskCompletionSource<TReply>> _waiting = new();

    /// <summary>
    /// Starts waiting for <paramref name="requestId"/>'s reply; register before sending, so a fast reply is not missed.
    /// Disposing the waiter stops waiting, however the request ended.
    /// </summary>
    public Waiter Expect(string requestId)
    {
        var reply = new TaskCompletionSource<TReply>(completeOnReceiverThread ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_waiting.TryAdd(requestId, reply)) throw new InvalidOperationException($"request {requestId} is already waiting for its reply");
        return new Waiter(this, requestId, reply);
    }

    /// <summary>Hands <paramref name="reply"/> to whoever waits for <paramref name="requestId"/>; false when nobody does.</summary>
    public bool Complete(string requestId, TReply reply) => _waiting.TryGetValue(requestId, out var waiting) && waiting.TrySetResult(reply);

    /// <summary>How many requests wait for their reply.</summary>
    public int Count => _waiting.Count;

    public sealed class Waiter : IDisposable
    {
        readonly PendingReplies<TReply> _table;
        readonly string _requestId;
        readonly TaskCompletionSource<TReply> _reply;

        internal Waiter(PendingReplies<TReply> table, string requestId, TaskCompletionSource<TReply> reply) => (_table, _requestId, _reply) = (table, requestId, reply);

        /// <summary>Completes with the reply.</summary>
        public Task<TReply> Reply => _reply.Task;

        public void Dispose() => _table._waiting.TryRemove(new KeyValuePair<string, TaskCompletionSource<TReply>>(_requestId, _reply));
    }
}

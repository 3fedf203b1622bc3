using System.Runtime.ExceptionServices;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Util;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The pieces a hop's receive stream is made of, so every hop that reads records off a plain socket into a per-disk
/// stage builds it the same way: the process server's spool stage and the master target's session both use them.
/// </summary>
internal static class RecordStreams
{
    /// <summary>
    /// The frames of <paramref name="reader"/>, read only as fast as the stages below take them: a full stage stops the
    /// reading, and TCP pushes back on the sender. Completes when the peer closes the connection.
    /// </summary>
    public static Source<PooledFrame, NotUsed> Frames(FrameReader reader, CancellationToken ct) =>
        Source.UnfoldAsync(reader, async r => await r.ReadPooledAsync(ct).ConfigureAwait(false) is { } frame
            ? Option<(FrameReader, PooledFrame)>.Create((r, frame))
            : Option<(FrameReader, PooledFrame)>.None);

    /// <summary>
    /// Commit when idle: records of one disk batch up while <paramref name="writeAndCommit"/> is busy with the previous
    /// batch (so a commit in flight coalesces what arrives meanwhile), up to <paramref name="commitBytes"/>; when the batch
    /// is full and the writer busy, demand stops and nothing more is read from the socket.
    /// </summary>
    public static Flow<TRecord, TDone, NotUsed> CommitWhenIdle<TRecord, TDone>(long commitBytes, Func<TRecord, long> bytes, Func<IReadOnlyList<TRecord>, Task<TDone>> writeAndCommit) =>
        Flow.Create<TRecord>()
            .BatchWeighted(commitBytes, bytes, r => new List<TRecord> { r }, (batch, r) =>
            {
                batch.Add(r);
                return batch;
            })
            .SelectAsync(1, batch => writeAndCommit(batch));

    /// <summary>
    /// Runs a per-disk stream to its end with small buffers between the stages (what is read ahead of the writers is
    /// about one batch, not a count of frames) and throws what ended it, unwrapped.
    /// </summary>
    public static async Task RunAsync<TDone>(SubFlow<TDone, NotUsed, IRunnableGraph<NotUsed>> perDisk, IMaterializer materializer)
    {
        // A substream's Via is a substream again, and merged a source again (Akka's own SubFlow operators cast the same way).
        var done = ((Source<TDone, NotUsed>)perDisk.MergeSubstreams())
            .WithAttributes(Attributes.CreateInputBuffer(1, 2))
            .RunWith(Sink.Ignore<TDone>(), materializer);
        try { await done.ConfigureAwait(false); }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.Count == 1) { ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw(); }
    }
}

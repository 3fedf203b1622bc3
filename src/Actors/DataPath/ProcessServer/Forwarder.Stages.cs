using Akka;
using Akka.Streams.Dsl;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Actors.DataPath;

/// <summary>The stages after the spool reader, apart so each reads as the one step it is.</summary>
public sealed partial class Forwarder
{
    /// <summary>
    /// Compresses the writes worth trying on up to <paramref name="parallelism"/> threads, in order. What decides (kind,
    /// already compressed) is the record's header as it was decoded where the record entered this process: nothing is
    /// decoded here. Only a record worth trying goes to another thread; the rest (markers, incompressible runs) pass at once.
    /// </summary>
    internal static Flow<OutgoingRecord, OutgoingRecord, NotUsed> CompressionStage(DeltaCompression compression, CompressionProbe probe, int parallelism, CancellationToken ct) =>
        Flow.Create<OutgoingRecord>().SelectAsync(parallelism, outgoing =>
        {
            if (outgoing.Compressed || outgoing.Header.Kind != DeltaKind.Write || !probe.ShouldTry()) return Task.FromResult(outgoing);
            return Task.Run(() =>
            {
                ReadOnlyMemory<byte> stored = compression.EncodeStored(outgoing.Header, compress: true);
                var smaller = stored.Length < outgoing.Record.Length;
                probe.Report(smaller);
                if (!smaller) return outgoing;
                RecentRecords.Release(outgoing);
                return new OutgoingRecord(stored, null, outgoing.Header, Compressed: true);
            }, ct);
        });

    /// <summary>
    /// The sink side: frames go out in groups of about one batch (what sits between the spool and the socket stays bounded
    /// by bytes, a few batches across the stages' small buffers, not by a count of 64 KiB records), each group one send;
    /// a slow master target slows this stage and so everything before it.
    /// </summary>
    internal static Flow<OutgoingRecord, int, NotUsed> TargetStage(FrameSender sender, int batchBytes, CancellationToken ct) =>
        Flow.Create<OutgoingRecord>()
            .GroupedWeightedWithin(batchBytes, 256, TimeSpan.FromMilliseconds(1), frame => frame.Record.Length)
            .SelectAsync(1, async (IEnumerable<OutgoingRecord> frames) =>
            {
                await sender.SendBatchAsync(async (output, token) =>
                {
                    foreach (var f in frames) await FrameIo.WriteAsync(output, FrameType.Delta, f.Record, token).ConfigureAwait(false);
                }, ct).ConfigureAwait(false);
                // Flushed: the socket has the bytes. (After a failure the buffers are left to the GC: a write may still hold them.)
                foreach (var f in frames) RecentRecords.Release(f);
                return 0;
            });
}

using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// The agent's stream against a model receiver that, like the process server, accepts only the next
/// sequence, skips repeats and asks to resend on a gap; connections drop at random points.
/// </summary>
public class DiskStreamProperties
{
    public enum Step { Append, Send, Ack, Drop, Corrupt }

    static Arbitrary<Step[]> Steps() => Gen.Frequency(
            (6, Gen.Constant(Step.Append)), (5, Gen.Constant(Step.Send)), (3, Gen.Constant(Step.Ack)),
            (1, Gen.Constant(Step.Drop)), (1, Gen.Constant(Step.Corrupt)))
        .ArrayOf().ToArbitrary();

    [Property(MaxTest = 300)]
    public Property Receiver_gets_every_delta_once_in_order_despite_drops_and_corruption()
        => Prop.ForAll(Steps(), steps =>
        {
            var stream = new DiskStream("d", 1 << 20, long.MaxValue);
            var received = new List<long>();   // what the receiver applied, in order
            long durable = 0;                  // what the receiver has acknowledged-worthy
            var appended = 0L;
            var corruptNext = false;
            foreach (var step in steps)
            {
                switch (step)
                {
                    case Step.Append:
                        stream.Append(DeltaKind.Write, appended * 512 % (1 << 20), 4, new byte[] { 1, 2, 3, (byte)appended });
                        appended++;
                        break;
                    case Step.Send:
                        foreach (var d in stream.TakeUnsent(3 * 4))
                        {
                            var intact = d.IsIntact && !corruptNext;
                            corruptNext = false;
                            if (d.Sequence <= received.Count) continue;                       // repeat: skipped
                            if (d.Sequence != received.Count + 1 || !intact)
                            {
                                Assert.True(stream.Rewind(received.Count), "rewind after a nak found a gap");  // nak: resend from the next, acknowledge nothing
                                break;
                            }
                            received.Add(d.Sequence);
                        }
                        break;
                    case Step.Ack:
                        durable = received.Count;
                        stream.Acknowledge(durable);
                        break;
                    case Step.Drop:
                        // Reconnect: the receiver says how far it is durable; unacked-but-received is resent and skipped.
                        Assert.True(stream.ResendFrom(durable), "resume after a reconnect found a gap");
                        received.RemoveRange((int)durable, received.Count - (int)durable);
                        break;
                    case Step.Corrupt:
                        corruptNext = true;
                        break;
                }
            }
            // Drain: everything still unacknowledged reaches the receiver.
            for (var i = 0; i < 10_000 && received.Count < appended; i++)
            {
                var batch = stream.TakeUnsent(1 << 20);
                if (batch.Count == 0) { Assert.True(stream.Rewind(received.Count)); continue; }
                foreach (var d in batch)
                {
                    if (d.Sequence <= received.Count) continue;
                    if (d.Sequence != received.Count + 1) { Assert.True(stream.Rewind(received.Count)); break; }
                    received.Add(d.Sequence);
                }
            }
            var ok = received.Count == appended && received.Select((s, i) => s == i + 1).All(x => x);
            return ok.Label($"appended {appended}, received [{string.Join(",", received.Take(20))}...]");
        });

    [Property(MaxTest = 200)]
    public bool Acknowledging_never_drops_an_unacknowledged_delta(PositiveInt count, NonNegativeInt ackAt)
    {
        var stream = new DiskStream("d", 1 << 20, long.MaxValue);
        for (var i = 0; i < count.Get; i++) stream.Append(DeltaKind.Zero, 0, 512, ReadOnlyMemory<byte>.Empty);
        var acked = Math.Min(ackAt.Get, count.Get);
        stream.Acknowledge(acked);
        stream.Acknowledge(acked - 1); // an older ack changes nothing
        return stream.UnackedCount == count.Get - acked && stream.ResendFrom(acked)
               && stream.TakeUnsent(int.MaxValue).Select(d => d.Sequence).SequenceEqual(Enumerable.Range(acked + 1, count.Get - acked).Select(i => (long)i));
    }

    /// <summary>
    /// Bulk payloads reuse the arrays of acknowledged deltas: whatever the receiver accepts (intact, next in order)
    /// carries exactly the bytes written for that sequence, even though the arrays behind older deltas were reused,
    /// and the buffer's byte count returns to zero once everything is acknowledged.
    /// </summary>
    [Property(MaxTest = 100)]
    public Property Reused_payload_arrays_never_change_a_delivered_or_pending_delta()
        => Prop.ForAll(Steps(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (steps, seed) =>
        {
            var rng = new Random(seed);
            var stream = new DiskStream("d", 64L << 20, long.MaxValue);
            var written = new Dictionary<long, byte[]>();
            long received = 0, durable = 0;
            void Deliver(IEnumerable<Delta> batch)
            {
                foreach (var d in batch)
                {
                    if (d.Sequence <= received) continue; // already held: a receiver drops it unread
                    if (d.Sequence != received + 1) { Assert.True(stream.Rewind(received)); return; }
                    Assert.True(d.IsIntact, $"#{d.Sequence} failed its checksum");
                    Assert.True(written[d.Sequence].AsSpan().SequenceEqual(d.Payload.Span), $"#{d.Sequence} carries other bytes than were written");
                    received = d.Sequence;
                }
            }
            foreach (var step in steps)
            {
                switch (step)
                {
                    case Step.Append:
                        // Sizes on both sides of the pooling threshold, up to a whole delta.
                        var data = new byte[rng.Next(2) == 0 ? rng.Next(1, 16 * 1024) : rng.Next(16 * 1024, DiskStream.MaxDeltaPayload + 1)];
                        rng.NextBytes(data);
                        var seq = stream.Append(DeltaKind.Write, rng.Next(0, 1000) * 65536L, data.Length, data).Sequence;
                        written[seq] = data;
                        break;
                    case Step.Send:
                        Deliver(stream.TakeUnsent(rng.Next(1, 200_000)));
                        break;
                    case Step.Ack:
                        durable = rng.NextInt64(durable, received + 1);
                        stream.Acknowledge(durable);
                        break;
                    case Step.Drop:
                        Assert.True(stream.ResendFrom(durable));
                        received = durable;
                        break;
                    case Step.Corrupt:
                        break;
                }
            }
            for (var i = 0; i < 10_000 && received < written.Count; i++)
            {
                var batch = stream.TakeUnsent(1 << 20);
                if (batch.Count == 0) { Assert.True(stream.Rewind(received)); continue; }
                Deliver(batch);
            }
            stream.Acknowledge(received);
            return (received == written.Count && stream.BufferedBytes == 0)
                .Label($"received {received} of {written.Count}, {stream.BufferedBytes} bytes still counted");
        });

    [Fact]
    public void A_receiver_ahead_of_the_buffer_is_a_gap_that_needs_a_resync()
    {
        var stream = new DiskStream("d", 1 << 20, long.MaxValue);
        stream.StartAfter(10);
        stream.Append(DeltaKind.Zero, 0, 512, ReadOnlyMemory<byte>.Empty);
        stream.Acknowledge(11);
        Assert.False(stream.ResendFrom(5), "the server is behind what the agent already dropped");
        Assert.False(stream.ResendFrom(20), "the server claims more than the agent ever numbered");
        Assert.True(stream.ResendFrom(11));
    }

    [Fact]
    public async Task A_full_buffer_makes_writers_wait_until_an_ack()
    {
        var stream = new DiskStream("d", 1 << 20, maxBufferedBytes: 1000);
        stream.Append(DeltaKind.Write, 0, 900, new byte[900]);
        var wait = stream.WaitForRoomAsync(900, default).AsTask();
        await Task.Delay(50);
        Assert.False(wait.IsCompleted, "a writer went past a full buffer");
        stream.Acknowledge(1);
        await wait.WaitAsync(TimeSpan.FromSeconds(5));
    }
}

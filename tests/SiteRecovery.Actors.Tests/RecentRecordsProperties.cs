using System.Buffers;
using FsCheck;
using SiteRecovery.Contracts.DataPath;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.DataPath;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>
/// The process server's in-memory tail of the spool against a model: whatever a forwarder takes is a gapless run
/// starting exactly where it asked, never past what is durable, with the bytes that were spooled for each sequence;
/// the tail never holds more than its bound.
/// </summary>
public sealed class RecentRecordsProperties
{
    [Property(MaxTest = 200)]
    public void A_forwarder_takes_a_gapless_run_from_where_it_asks_with_the_spooled_bytes(PositiveInt seedArg)
    {
        var rng = new Random(seedArg.Get);
        var bound = rng.Next(0, 40_000);
        var recent = new RecentRecords(bound);
        var spooled = new Dictionary<long, byte[]>();
        long next = 1, cursor = 0;
        for (var step = 0; step < 300; step++)
        {
            if (rng.Next(3) > 0)
            {
                // The agent's session spools a record; now and then a new session starts after a gap.
                if (rng.Next(40) == 0) next += rng.Next(1, 5);
                var bytes = new byte[rng.Next(1, 9000)];
                rng.NextBytes(bytes);
                spooled[next] = bytes;
                var buffer = ArrayPool<byte>.Shared.Rent(bytes.Length);
                bytes.CopyTo(buffer, 0);
                recent.Add(Delta.Create("d", next, DeltaKind.Write, 0, bytes.Length, buffer.AsMemory(0, bytes.Length), 0), buffer, bytes.Length);
                next++;
                Assert.True(recent.Bytes <= Math.Max(0, bound), $"tail holds {recent.Bytes} bytes, over its {bound}");
            }
            else
            {
                // The forwarder asks from after its cursor (sometimes rewound, as after a reconnect) up to what is durable.
                if (rng.Next(10) == 0) cursor = rng.NextInt64(0, cursor + 1);
                var durable = rng.NextInt64(cursor, next);
                var taken = new List<OutgoingRecord>();
                var last = recent.TakeFrom(cursor + 1, durable, rng.Next(1, 30_000), taken);
                Assert.True(last <= durable, $"took through #{last}, past durable #{durable}");
                Assert.Equal(last - cursor, taken.Count);
                for (var i = 0; i < taken.Count; i++)
                {
                    var seq = cursor + 1 + i;
                    Assert.True(spooled[seq].AsSpan().SequenceEqual(taken[i].Record.Span), $"#{seq} differs from what was spooled");
                    Assert.NotNull(taken[i].PooledBuffer);
                    RecentRecords.Release(taken[i]);
                }
                cursor = Math.Max(cursor, last);
            }
        }
        recent.Clear();
        Assert.Equal(0, recent.Bytes);
    }
}

using SiteRecovery.Agent.Replication;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Tests.Agent;

/// <summary>Overlapping writes racing on one disk: replaying the stream in sequence order must give the source.</summary>
public class ConcurrentWriteOrderTests
{
    [Fact]
    public async Task Stream_order_is_apply_order_for_overlapping_concurrent_writes()
    {
        var dir = Support.Tools.TempDirectory("order");
        var path = Path.Combine(dir, "d.img");
        const int size = 256 * 1024;
        await File.WriteAllBytesAsync(path, new byte[size]);
        using var export = new ReplicatedExport("d", path, new DiskStream("d", size, long.MaxValue));
        export.MarkReady();
        var tasks = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            var rng = new Random(t);
            for (var i = 0; i < 400; i++)
            {
                // Small region so writes overlap constantly.
                var len = rng.Next(1, 8192);
                var offset = rng.Next(0, 16384);
                var data = new byte[len];
                rng.NextBytes(data);
                if (i % 17 == 0) await export.WriteZeroesAsync(offset, len, false, default);
                else await export.WriteAsync(offset, data, false, default);
            }
        })).ToArray();
        await Task.WhenAll(tasks);

        var replay = new byte[size];
        var deltas = export.Stream.TakeUnsent(int.MaxValue);
        Assert.Equal(Enumerable.Range(1, deltas.Count).Select(i => (long)i), deltas.Select(d => d.Sequence));
        foreach (var d in deltas)
        {
            Assert.True(d.IsIntact);
            if (d.Kind == DeltaKind.Write) d.Payload.Span.CopyTo(replay.AsSpan((int)d.Offset));
            else replay.AsSpan((int)d.Offset, d.Length).Clear();
        }
        var source = await File.ReadAllBytesAsync(path);
        Assert.True(replay.SequenceEqual(source), "replaying the stream differs from the source");
        Directory.Delete(dir, true);
    }
}

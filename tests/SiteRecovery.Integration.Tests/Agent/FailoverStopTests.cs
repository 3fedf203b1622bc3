using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node.Failover;
using SiteRecovery.Tests.Support;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// Planned failover, "stop the source": an agent with two disks under a continuous qemu-io writer is stopped through the
/// node's <see cref="SourceStop"/>; writes then fail with NBD_EPERM and are not captured, reads go on, the reported
/// sequences are what the master target holds durably, and a recovery there equals the source byte for byte.
/// </summary>
public class FailoverStopTests
{
    const long Size = 16L << 20;
    static readonly string[] Disks = ["disk1", "disk2"];

    /// <summary>Runs qemu-io against the disk again and again until stopped; counts the runs that wrote and those refused.</summary>
    sealed class Writer(string uri, int seed)
    {
        public int Written;
        public int Refused;

        public async Task RunAsync(CancellationToken stop)
        {
            for (var i = seed; !stop.IsCancellationRequested; i++)
            {
                var commands = string.Join(" ", Enumerable.Range(0, 8).Select(k => $"-c \"write -P {(i + k) % 250 + 1} {((i * 8 + k) * 37 % 240) * 64}k 64k\""));
                try { await ExternalTool.RunOkAsync("qemu-io", $"-f raw {uri} {commands}", TimeSpan.FromSeconds(10)); Interlocked.Increment(ref Written); }
                catch (InvalidOperationException) { Interlocked.Increment(ref Refused); }
            }
        }
    }

    static async Task<string> QemuIoAsync(string uri, string command, bool readOnly = false)
    {
        try { return (await ExternalTool.RunOkAsync("qemu-io", $"{(readOnly ? "-r " : "")}-f raw {uri} -c \"{command}\"", TimeSpan.FromSeconds(10))).Output; }
        catch (InvalidOperationException e) { return e.Message; }
    }

    static async Task AssertRecoveredEqualsSourceAsync(Site site, string disk, long sequence)
    {
        var output = Path.Combine(site.Root, $"{disk}-at-{sequence}.img");
        await site.Target.RecoverAsync(disk, sequence, output, null, default);
        var source = site.DiskPaths[Array.IndexOf(Disks, disk)];
        var (want, got) = (Tools.Sha256(source), Tools.Sha256(output));
        Assert.True(want == got, $"{disk} recovered at #{sequence}: got SHA-256 {got}, want the source's {want}");
    }

    [Fact]
    public async Task Stop_under_a_continuous_writer_refuses_writes_keeps_reads_and_recovers_byte_for_byte_then_resume_replicates()
    {
        await using var site = await Site.StartAsync("fstop", 2, Size);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var sourceStop = new SourceStop(site.Target);

        using var writing = new CancellationTokenSource();
        var writers = Disks.Select((d, i) => new Writer(site.NbdUri(d), i * 1000)).ToList();
        var running = writers.Select(w => w.RunAsync(writing.Token)).ToList();
        await Task.Delay(1500);
        Assert.All(writers, w => Assert.True(w.Written > 0, "the writer wrote nothing before the stop"));

        var stopped = await sourceStop.StopAsync(Disks, TimeSpan.FromSeconds(20), default);
        Assert.True(stopped.Ok, string.Join("; ", stopped.Errors));
        // The writer keeps trying for a moment: every run now fails, and nothing more is captured.
        await Task.Delay(500);
        await writing.CancelAsync();
        await Task.WhenAll(running);
        Assert.All(writers, w => Assert.True(w.Refused > 0, "no write was refused after the stop"));

        foreach (var d in Disks)
        {
            // A client connecting after the stop is told the export is read-only (NBD_FLAG_READ_ONLY) and can still read.
            Assert.Contains("Permission denied", await QemuIoAsync(site.NbdUri(d), "write -P 0x77 0 64k"));
            Assert.Contains("read 65536/65536 bytes", await QemuIoAsync(site.NbdUri(d), "read 0 64k", readOnly: true));
            var export = site.Agent.Exports.Single(e => e.Name == d);
            Assert.True(export.Stream.LastSequence == stopped.LastSequences[d],
                $"{d}: the agent numbered #{export.Stream.LastSequence} after stopping at #{stopped.LastSequences[d]}: a refused write was captured");
            var durable = (await site.Target.GetDiskAsync(d)).DurableThrough;
            Assert.True(durable == stopped.LastSequences[d], $"{d}: master target durable #{durable}, stop reported #{stopped.LastSequences[d]}");
            await AssertRecoveredEqualsSourceAsync(site, d, stopped.LastSequences[d]);
        }

        var resumed = await sourceStop.ResumeAsync(Disks, TimeSpan.FromSeconds(10), default);
        Assert.True(resumed.Ok, string.Join("; ", resumed.Errors));
        Assert.Empty(resumed.WereNotStopped);
        foreach (var d in Disks)
            Assert.Contains("wrote 1048576/1048576 bytes", await QemuIoAsync(site.NbdUri(d), "write -P 0x5a 1M 1M"));
        await site.CatchUpAsync(TimeSpan.FromSeconds(10));
        foreach (var d in Disks)
        {
            var durable = (await site.Target.GetDiskAsync(d)).DurableThrough;
            Assert.True(durable > stopped.LastSequences[d], $"{d}: nothing replicated after the resume (durable #{durable})");
            await AssertRecoveredEqualsSourceAsync(site, d, durable);
        }
    }

    [Fact]
    public async Task A_client_connected_across_the_stop_gets_EPERM_on_write_zeroes_and_trim_and_can_still_read()
    {
        await using var site = await Site.StartAsync("fstop4", 1, Size);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var export = site.Agent.Exports[0];
        var before = export.Stream.LastSequence;
        await using var client = QemuIoSession.Start(site.NbdUri("disk1"));
        await client.SendAsync("write -P 0x41 0 64k");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (export.Stream.LastSequence == before && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(export.Stream.LastSequence > before, "the first write (before the stop) was not captured");

        var stopped = await new SourceStop(site.Target).StopAsync(["disk1"], TimeSpan.FromSeconds(15), default);
        Assert.True(stopped.Ok, string.Join("; ", stopped.Errors));
        foreach (var command in new[] { "write -P 0x42 0 64k", "write -z 64k 64k", "discard 128k 64k", "read -P 0x41 0 64k", "quit" })
            await client.SendAsync(command);
        var output = await client.OutputAsync();
        Assert.False(client.Killed, $"qemu-io did not quit:\n{output}");

        // qemu-io prints strerror(EPERM) for each refused request; the read sees the data written before the stop.
        Assert.True(System.Text.RegularExpressions.Regex.Count(output, "Operation not permitted") == 3, $"want 3 refusals (write, write -z, discard), got:\n{output}\n{string.Join("\n", site.Log.TakeLast(10))}");
        await Assert.ThrowsAsync<SiteRecovery.Capture.Nbd.ExportReadOnlyException>(async () => await export.TrimAsync(128 << 10, 64 << 10, default));
        await Assert.ThrowsAsync<SiteRecovery.Capture.Nbd.ExportReadOnlyException>(async () => await export.WriteZeroesAsync(0, 4096, false, default));
        Assert.Contains("read 65536/65536 bytes", output);
        Assert.DoesNotContain("Pattern verification failed", output);
        Assert.True(export.Stream.LastSequence == (await site.Target.GetDiskAsync("disk1")).DurableThrough,
            $"agent numbered #{export.Stream.LastSequence}, master target durable #{(await site.Target.GetDiskAsync("disk1")).DurableThrough}: a refused change was captured");
        await AssertRecoveredEqualsSourceAsync(site, "disk1", export.Stream.LastSequence);
    }

    [Fact]
    public async Task A_second_stop_answers_the_same_even_after_a_group_marker()
    {
        await using var site = await Site.StartAsync("fstop2", 2, Size);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        foreach (var d in Disks) await QemuIoAsync(site.NbdUri(d), "write -P 0x31 0 256k");
        var sourceStop = new SourceStop(site.Target);

        var first = await sourceStop.StopAsync(Disks, TimeSpan.FromSeconds(15), default);
        Assert.True(first.Ok, string.Join("; ", first.Errors));
        // The failover's final point is a marker numbered after the stop: it must not move what the stop reports.
        var marked = site.Agent.Client!.InsertBookmark(new BookmarkRequest("b", "final", Disks));
        Assert.Null(marked.Error);
        var second = await sourceStop.StopAsync(Disks, TimeSpan.FromSeconds(15), default);
        Assert.True(second.Ok, string.Join("; ", second.Errors));
        Assert.Equal(first.LastSequences.OrderBy(kv => kv.Key), second.LastSequences.OrderBy(kv => kv.Key));

        var direct = await site.Agent.Client.Stops.StopAsync(new StopForFailover("again", Disks), default);
        Assert.Null(direct.Error);
        Assert.Equal(first.LastSequences.OrderBy(kv => kv.Key), direct.LastSequences.OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task Unknown_disks_and_resyncing_disks_are_refused_and_nothing_is_stopped()
    {
        await using var site = await Site.StartAsync("fstop3", 2, Size);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var stops = site.Agent.Client!.Stops;

        var unknown = await stops.StopAsync(new StopForFailover("u", ["disk1", "nope"]), default);
        Assert.Equal(FailoverStopFailure.UnknownDisk, unknown.Failure);
        Assert.Contains("nope", unknown.Error);
        Assert.Empty(unknown.LastSequences);
        Assert.All(site.Agent.Exports, e => Assert.False(e.ReadOnly, $"{e.Name} was stopped by a refused request"));

        var viaNode = await new SourceStop(site.Target).StopAsync(["disk1", "nope"], TimeSpan.FromSeconds(10), default);
        var error = Assert.Single(viaNode.Errors, e => e.DiskId == "nope");
        Assert.Equal(FailoverStopFailure.NotReached, error.Reason);

        var disk2 = site.Agent.Exports.Single(e => e.Name == "disk2");
        disk2.WriteLock.Wait();
        try { disk2.ScanStarted(ResyncReason.OperatorRequest); } finally { disk2.WriteLock.Release(); }
        var resyncing = await stops.StopAsync(new StopForFailover("r", Disks), default);
        Assert.Equal(FailoverStopFailure.Resyncing, resyncing.Failure);
        Assert.Contains("disk2 is resyncing", resyncing.Error);
        Assert.All(site.Agent.Exports, e => Assert.False(e.ReadOnly, $"{e.Name} was stopped although disk2 is resyncing"));
        disk2.WriteLock.Wait();
        try { disk2.ScanFinished(ResyncReason.OperatorRequest); } finally { disk2.WriteLock.Release(); }

        var resumeUnknown = await stops.ResumeAsync(new ResumeAfterFailover("x", ["nope"]), default);
        Assert.Equal(FailoverStopFailure.UnknownDisk, resumeUnknown.Failure);
        var resumeNotStopped = await stops.ResumeAsync(new ResumeAfterFailover("y", ["disk1"]), default);
        Assert.Null(resumeNotStopped.Error);
        Assert.Equal(["disk1"], resumeNotStopped.WereNotStopped);
    }

    [Fact]
    public void The_failover_messages_round_trip_on_the_wire()
    {
        ControlMessage[] messages =
        [
            new StopForFailover("r1", ["a", "b"], 1234),
            new StoppedForFailover("r1", new Dictionary<string, long> { ["a"] = 7 }, null),
            new StoppedForFailover("r2", new Dictionary<string, long>(), "a is resyncing", FailoverStopFailure.Resyncing),
            new ResumeAfterFailover("r3", ["a"]),
            new ResumedAfterFailover("r3", ["a"], null),
        ];
        foreach (var m in messages)
        {
            var back = ControlMessage.Parse(m.ToBytes());
            Assert.Equal(m.GetType(), back.GetType());
            Assert.Equal(System.Text.Encoding.UTF8.GetString(m.ToBytes()), System.Text.Encoding.UTF8.GetString(back.ToBytes()));
        }
        Assert.IsType<IAgentReply>(new StopForFailover("r", ["a"]).Failed("gone"), exactMatch: false);
    }
}

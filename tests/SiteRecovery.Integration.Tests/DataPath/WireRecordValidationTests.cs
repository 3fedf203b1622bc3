using System.Security.Cryptography;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// Records no real agent sends (overflowing ranges, negative values, over-long or broken bookmark ids, sequence 0),
/// sent over a socket to a real process server and to a real master target: each is refused before anything durable
/// is written, logged with the disk, the sequence and the rule, and the connection closed; a following good
/// connection resumes where the last good record left off.
/// </summary>
public sealed class WireRecordValidationTests
{
    const long Size = 1L << 20;
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    static Delta Write(string disk, long seq, long offset, int length, byte fill = 0x5a)
        => Delta.Create(disk, seq, DeltaKind.Write, offset, length, Enumerable.Repeat(fill, Math.Max(length, 0)).ToArray(), Now);

    static readonly Dictionary<string, (Func<string, long, Delta> Make, DeltaRule Rule)> Bad = new()
    {
        ["write whose offset+length overflows"] = ((d, s) => Write(d, s, long.MaxValue - 100, 4096), DeltaRule.RangeOverflows),
        ["zero whose offset+length overflows"] = ((d, s) => Delta.Create(d, s, DeltaKind.Zero, long.MaxValue, 1, default, Now), DeltaRule.RangeOverflows),
        ["write at a negative offset"] = ((d, s) => Write(d, s, -4096, 4096), DeltaRule.OffsetNegative),
        ["write past the disk's end"] = ((d, s) => Write(d, s, Size - 100, 4096), DeltaRule.RangePastDisk),
        ["trim past the disk's end"] = ((d, s) => Delta.Create(d, s, DeltaKind.Trim, Size, 4096, default, Now), DeltaRule.RangePastDisk),
        ["sequence 0"] = ((d, _) => Write(d, 0, 0, 4096), DeltaRule.SequenceBelowOne),
        ["negative sequence"] = ((d, _) => Write(d, -7, 0, 4096), DeltaRule.SequenceBelowOne),
        ["write payload shorter than its length"] = ((d, s) => Delta.Create(d, s, DeltaKind.Write, 0, 4096, new byte[100], Now), DeltaRule.PayloadMismatch),
        ["zero carrying a payload"] = ((d, s) => Delta.Create(d, s, DeltaKind.Zero, 0, 4, new byte[4], Now), DeltaRule.PayloadMismatch),
        ["bookmark id over 1 KiB"] = ((d, s) => Delta.Create(d, s, DeltaKind.Bookmark, 0, 0, Enumerable.Repeat((byte)'a', 2000).ToArray(), Now), DeltaRule.BookmarkIdInvalid),
        ["bookmark id not UTF-8"] = ((d, s) => Delta.Create(d, s, DeltaKind.Bookmark, 0, 0, new byte[] { 0x62, 0xff, 0xfe }, Now), DeltaRule.BookmarkIdInvalid),
        ["bookmark covering a range"] = ((d, s) => Delta.Create(d, s, DeltaKind.Bookmark, 4096, 0, "bm"u8.ToArray(), Now), DeltaRule.BookmarkHasRange),
    };

    public static TheoryData<string> Cases => new(Bad.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Process_server_refuses_the_record_before_its_spool_and_the_next_connection_goes_on(string name)
    {
        var (make, rule) = Bad[name];
        const string disk = "v1";
        await using var site = await Site.StartServersAsync("ps-bad");
        var spool = Path.Combine(site.Root, "ps-cache", disk, "spool");
        await using (var agent = await WireClient.ConnectAsync(site.ProcessEndpoint!))
        {
            Assert.Equal(0, await agent.HelloAsync("agent-x", disk, Size));
            await agent.SendDeltaAsync(Write(disk, 1, 0, 4096, 0x11));
            await agent.AckedAsync(disk, 1);
            await Until(() => site.Process.Disks[disk].TargetAcked >= 1, "the master target to hold #1");
            var before = Digest(spool);

            var bad = make(disk, 2);
            await agent.SendDeltaAsync(bad);
            Assert.True(await agent.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), $"{name}: the connection stayed open after the record");
            await AssertRefusalLoggedAsync(site, disk, bad.Sequence, rule);
            Assert.Equal(1, site.Process.Disks[disk].Spooled);
            Assert.Equal(before, Digest(spool));
        }

        await using var next = await WireClient.ConnectAsync(site.ProcessEndpoint!);
        Assert.Equal(1, await next.HelloAsync("agent-x", disk, Size));
        await next.SendDeltaAsync(Write(disk, 2, 8192, 4096, 0x22));
        await next.AckedAsync(disk, 2);
        await Until(() => site.Target.Disks[disk].AppliedThrough >= 2, "the master target to hold #2");
        await AssertRecoversAsync(site, disk, 2);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Master_target_refuses_the_record_before_its_journal_and_the_next_connection_goes_on(string name)
    {
        var (make, rule) = Bad[name];
        const string disk = "m1";
        await using var site = await Site.StartServersAsync("mt-bad");
        var journal = Path.Combine(site.Root, "mt", "disks", disk, "journal");
        string before;
        await using (var ps = await WireClient.ConnectAsync(site.TargetEndpoint!))
        {
            Assert.Equal(0, await ps.HelloAsync("ps-x", disk, Size));
            await ps.SendDeltaAsync(Write(disk, 1, 0, 4096, 0x11));
            await ps.AckedAsync(disk, 1);
            before = Digest(journal);

            var bad = make(disk, 2);
            await ps.SendDeltaAsync(bad);
            Assert.True(await ps.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), $"{name}: the connection stayed open after the record");
            await AssertRefusalLoggedAsync(site, disk, bad.Sequence, rule);
        }

        // The next hello commits whatever the last connection appended: the bad record must not be among it.
        await using var next = await WireClient.ConnectAsync(site.TargetEndpoint!);
        Assert.Equal(1, await next.HelloAsync("ps-x", disk, Size));
        Assert.Equal(before, Digest(journal));
        Assert.Equal(1, site.Target.Disks[disk].AppliedThrough);
        await next.SendDeltaAsync(Write(disk, 2, 8192, 4096, 0x22));
        await next.AckedAsync(disk, 2);
        await AssertRecoversAsync(site, disk, 2);
    }

    [Fact]
    public void The_check_names_each_rule_and_passes_good_records()
    {
        foreach (var (name, (make, rule)) in Bad)
            Assert.True(DeltaValidation.Check(make("d", 2), Size)?.Rule == rule, $"{name}: got {DeltaValidation.Check(make("d", 2), Size)}, want {rule}");
        Assert.Null(DeltaValidation.Check(Write("d", 1, Size - 4096, 4096), Size));
        Assert.Null(DeltaValidation.Check(Delta.Create("d", 1, DeltaKind.Zero, 0, (int)Size, default, Now), Size));
        Assert.Null(DeltaValidation.Check(Delta.Bookmark("d", 3, new string('é', 512), Now), Size));
        Assert.Equal(DeltaRule.BookmarkIdInvalid, DeltaValidation.Check(Delta.Bookmark("d", 3, new string('é', 513), Now), Size)?.Rule);
        Assert.NotNull(DeltaValidation.BookmarkIdProblem(new string('x', DeltaValidation.MaxBookmarkBytes)));
        Assert.Null(DeltaValidation.BookmarkIdProblem("nightly-2026-12-06"));
    }

    static async Task AssertRefusalLoggedAsync(Site site, string disk, long sequence, DeltaRule rule)
    {
        var want = $"disk {disk}: delta #{sequence} refused";
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            lock (site.Log)
                if (site.Log.Any(l => l.Contains(want) && l.Contains(rule.ToString()))) return;
            await Task.Delay(20);
        }
        lock (site.Log) Assert.Fail($"no log line with '{want}' and {rule}; got:\n{string.Join("\n", site.Log)}");
    }

    /// <summary>The recovered image holds record #1 (0x11 at 0) and #2 (0x22 at 8 KiB) and zeroes elsewhere.</summary>
    static async Task AssertRecoversAsync(Site site, string disk, long sequence)
    {
        var expected = new byte[Size];
        Array.Fill(expected, (byte)0x11, 0, 4096);
        Array.Fill(expected, (byte)0x22, 8192, 4096);
        var output = Path.Combine(site.Root, disk + ".recovered");
        await site.Target.RecoverAsync(disk, sequence, output, null, default);
        Assert.True(expected.AsSpan().SequenceEqual(File.ReadAllBytes(output)), "the recovered image differs from what was sent");
    }

    static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 30 s for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Names and contents of the files of a log directory (its lock file aside).</summary>
    static string Digest(string directory) => string.Join("\n", Directory.EnumerateFiles(directory)
        .Where(f => Path.GetFileName(f) != "log.lock").Order(StringComparer.Ordinal)
        .Select(f => Path.GetFileName(f) + " " + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))));
}

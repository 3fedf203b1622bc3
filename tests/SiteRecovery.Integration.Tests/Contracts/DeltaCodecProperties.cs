using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Contracts;

public class DeltaCodecProperties
{
    static Delta MakeDelta(byte[] payload, long seq, long offset, string disk)
        => Delta.Create(disk, seq, DeltaKind.Write, offset, payload.Length, payload, 1_700_000_000_000 + seq);

    [Property(MaxTest = 200)]
    public bool Encode_then_decode_gives_the_same_delta(byte[] payload, PositiveInt seq, NonNegativeInt offset)
    {
        var d = MakeDelta(payload, seq.Get, offset.Get * 512L, "disk-a");
        var back = DeltaCodec.Decode(DeltaCodec.Encode(d), out var compressed);
        return !compressed && back.IsIntact && back.Sequence == d.Sequence && back.Offset == d.Offset
               && back.Payload.Span.SequenceEqual(d.Payload.Span) && back.Checksum == d.Checksum;
    }

    [Property(MaxTest = 300)]
    public Property Any_flipped_bit_outside_the_framing_is_detected(NonEmptyArray<byte> payload, PositiveInt where, byte bit)
    {
        var d = MakeDelta(payload.Get, 7, 4096, "disk-b");
        var bytes = DeltaCodec.Encode(d);
        // Bytes 0-3 are version/kind/flags/id-length and 40-43 the stored length: damage there fails decoding or the checksum.
        var i = where.Get % bytes.Length;
        bytes[i] ^= (byte)(1 << (bit % 8));
        bool detected;
        // A raw record whose flag now says compressed is refused by zstd (no frame magic), so that counts as detected.
        try { detected = !DeltaCodec.Decode(bytes, out var compressed).IsIntact || compressed; }
        catch (DeltaFormatException) { detected = true; }
        return detected.Label($"flip at byte {i} bit {bit % 8} of {bytes.Length} went unnoticed");
    }

    [Fact]
    public void Truncated_record_names_the_lengths()
    {
        var bytes = DeltaCodec.Encode(MakeDelta(new byte[100], 1, 0, "d"));
        var e = Assert.Throws<DeltaFormatException>(() => DeltaCodec.Decode(bytes.AsMemory(0, bytes.Length - 1), out _));
        Assert.Contains("header says", e.Message);
    }

    [Fact]
    public void Validate_names_the_broken_rule()
    {
        Assert.Equal("sequence 0 is below 1", Delta.Create("d", 0, DeltaKind.Write, 0, 0, Array.Empty<byte>(), 0).Validate());
        Assert.Contains("payload is 3 bytes", Delta.Create("d", 1, DeltaKind.Write, 0, 4, new byte[3], 0).Validate());
        Assert.Null(Delta.Bookmark("d", 5, "bm-1", 0).Validate());
    }

    [Fact]
    public async Task Frame_cut_in_its_header_is_an_error_not_a_clean_end()
    {
        var ms = new MemoryStream();
        await FrameIo.WriteAsync(ms, FrameType.Control, new Ack("d", 3).ToBytes(), default);
        var cut = new MemoryStream(ms.ToArray()[..3]);
        await Assert.ThrowsAsync<EndOfStreamException>(async () => await FrameIo.ReadAsync(cut, default));
        Assert.Null(await FrameIo.ReadAsync(new MemoryStream(), default));
    }

    [Fact]
    public async Task Control_messages_round_trip_and_garbage_is_named()
    {
        var ms = new MemoryStream();
        await FrameIo.WriteAsync(ms, FrameType.Control, new Hello("agent-1", [new DiskOffer("d1", 1 << 20)]).ToBytes(), default);
        ms.Position = 0;
        var frame = await FrameIo.ReadAsync(ms, default);
        var hello = Assert.IsType<Hello>(ControlMessage.Parse(frame!.Value.Body));
        Assert.Equal("d1", hello.Disks[0].DiskId);
        // A hold's freeze outcome travels as a value beside its text; a message without it (an older agent) reads as null.
        var held = Assert.IsType<Held>(ControlMessage.Parse(new Held("r", "h", new Dictionary<string, long> { ["d1"] = 4 }, null, "agent a: freeze TimedOut",
            SiteRecovery.Contracts.Control.AppConsistencyFailure.HookTimedOut).ToBytes()));
        Assert.Equal((4L, SiteRecovery.Contracts.Control.AppConsistencyFailure.HookTimedOut), (held.Sequences["d1"], held.FreezeFailureKind!.Value));
        var older = System.Text.Encoding.UTF8.GetString(new Held("r", "h", new Dictionary<string, long>(), null, "x").ToBytes()).Replace(",\"freezeFailureKind\":null", "");
        Assert.DoesNotContain("freezeFailureKind", older);
        Assert.Null(Assert.IsType<Held>(ControlMessage.Parse(System.Text.Encoding.UTF8.GetBytes(older))).FreezeFailureKind);
        var e = Assert.Throws<InvalidDataException>(() => ControlMessage.Parse("{\"type\":\"nope\"}"u8));
        Assert.Contains("not a known control message", e.Message);
    }

    [Fact]
    public void A_resync_notice_carries_its_reason_by_number_and_the_numbers_never_move()
    {
        // An agent and a process server of different versions meet on the wire: a member's number is its meaning.
        ResyncReason[] byNumber = [ResyncReason.InitialReplication, ResyncReason.AgentRestartedWithoutTracking, ResyncReason.StreamGap, ResyncReason.ChecksumMismatch,
            ResyncReason.BufferOverflow, ResyncReason.OperatorRequest, ResyncReason.AgentCrashActivityLog, ResyncReason.Reprotect];
        Assert.Equal(byNumber, Enum.GetValues<ResyncReason>());
        for (var i = 0; i < byNumber.Length; i++)
            Assert.Equal(i, (int)byNumber[i]);
        Assert.Contains("\"reason\":2,", System.Text.Encoding.UTF8.GetString(new ResyncNotice("d1", ResyncReason.StreamGap, false, 9).ToBytes()));
        Assert.Equal(ResyncReason.BufferOverflow, Assert.IsType<ResyncNotice>(ControlMessage.Parse("""{"type":"resync","diskId":"d1","reason":4,"completed":true,"sequence":9}"""u8)).Reason);
    }

    [Property(MaxTest = 100)]
    public bool Direct_delta_frames_equal_framed_records(byte[] payload, PositiveInt seq)
    {
        var d = MakeDelta(payload, seq.Get, 8192, "disk-é");
        var a = new MemoryStream();
        FrameIo.WriteAsync(a, FrameType.Delta, DeltaCodec.Encode(d), default).AsTask().Wait();
        var b = new MemoryStream();
        FrameIo.WriteDeltaAsync(b, d, default).AsTask().Wait();
        return a.ToArray().AsSpan().SequenceEqual(b.ToArray());
    }
}

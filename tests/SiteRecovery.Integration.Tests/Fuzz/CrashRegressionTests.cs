using System.Buffers;
using System.Text;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Integration.Tests.Fuzz;

/// <summary>
/// The crashes the fuzzer found (fuzz/run.sh, AFL++ with SharpFuzz), each reduced to the smallest input that shows it and
/// the named error it must now give. The inputs as found are in fuzz/crashes/ and replayed by <see cref="CorpusTests"/>.
/// </summary>
public sealed class CrashRegressionTests
{
    [Theory]
    [InlineData("{}")]
    [InlineData("{\"sourceId\":\"agent-1\",\"disks\":[]}")]
    [InlineData("{\"diskId\":\"disk-1\",\"type\":\"ack\"}")] // the discriminator is read only when it comes first
    public void ControlFrameWithoutATypeIsInvalidData(string json)
    {
        // Found by the frame target: System.Text.Json threw NotSupportedException ("must specify a type discriminator"),
        // which the receive loops do not expect, instead of the InvalidDataException Parse promises.
        var e = Assert.Throws<InvalidDataException>(() => ControlMessage.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains("control frame is not a known control message", e.Message);
    }

    [Theory]
    [InlineData("{\"type\":\"hello\",\"sourceId\":\"agent-1\",\"version\":2}", "Hello", "disks")]
    [InlineData("{\"type\":\"hello\",\"disks\":[],\"version\":2}", "Hello", "sourceId")]
    [InlineData("{\"type\":\"hello\",\"sourceId\":null,\"disks\":[],\"version\":2}", "Hello", "SourceId")]
    [InlineData("{\"type\":\"hello\",\"sourceId\":\"a\",\"disks\":[{\"divkId\":\"disk-1\",\"sizeBytes\":1}]}", "DiskOffer", "diskId")]
    [InlineData("{\"type\":\"ack\",\"dis\u007fId\":\"disk-1\",\"durableThrough\":9}", "Ack", "diskId")]
    public void ControlMessageMissingOrNullingADeclaredMemberIsInvalidData(string json, string type, string member)
    {
        // Found by the frame target (a parsed message must be whole): a misspelt or null member came back as null in a
        // record that declares it non-nullable, and the receivers read it without looking (hello.Disks.Count).
        var e = Assert.Throws<InvalidDataException>(() => ControlMessage.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains("control frame is not a known control message", e.Message);
        Assert.Contains(type, e.Message);
        Assert.Contains(member, e.Message);
    }

    [Fact]
    public void ControlMessagesStillParseWithTheirDefaultsLeftOut()
    {
        // What a peer older than a member sends: members with a default may be absent, nullable ones null.
        var hello = Assert.IsType<Hello>(ControlMessage.Parse("{\"type\":\"hello\",\"sourceId\":\"a\",\"disks\":[{\"diskId\":\"d\",\"sizeBytes\":1}]}"u8));
        Assert.Equal(1, hello.Version);
        Assert.Null(hello.Disks[0].MachineId);
        var inserted = Assert.IsType<BookmarkInserted>(ControlMessage.Parse("{\"type\":\"bookmark-inserted\",\"requestId\":\"r\",\"bookmarkId\":\"b\",\"sequences\":{},\"error\":null}"u8));
        Assert.False(inserted.Retryable);
    }

    [Fact]
    public async Task ControlFrameWithoutATypeEndsTheFrameReaderWithInvalidData()
    {
        var body = "{}"u8.ToArray();
        var stream = new MemoryStream();
        var header = new byte[FrameHeader.Size];
        FrameHeader.Write(header, body.Length, FrameType.Control);
        stream.Write(header);
        stream.Write(body);
        stream.Position = 0;
        var frame = await new FrameReader(stream).ReadAsync(CancellationToken.None);
        Assert.NotNull(frame);
        Assert.Throws<InvalidDataException>(() => ControlMessage.Parse(frame.Value.Body));
    }

    [Fact]
    public void CompressedBookmarkWhoseZstdFrameDeclaresNoSizeIsAFormatError()
    {
        // Found by the delta target: a stored record of a non-write kind flagged compressed, whose payload is not a zstd
        // frame with a content size, let ZstdException escape DecodeStored (documented: DeltaFormatException or
        // ChecksumMismatchException only).
        var bookmark = Delta.Bookmark("disk-1", 10, "b1", 1_700_000_000_000);
        var record = new ArrayBufferWriter<byte>();
        DeltaCodec.Encode(bookmark, "not zstd"u8, compressed: true, record);
        using var compression = new DeltaCompression();
        var e = Assert.Throws<DeltaFormatException>(() => compression.DecodeStored(record.WrittenMemory));
        Assert.Contains("disk-1#10", e.Message);
        Assert.Contains("compressed Bookmark payload declares no decompressed size", e.Message);
    }
}

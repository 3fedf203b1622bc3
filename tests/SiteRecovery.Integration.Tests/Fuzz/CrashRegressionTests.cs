using System.Text;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Integration.Tests.Fuzz;

/// <summary>
/// The crashes the fuzzer found (fuzz/run.sh, AFL++ with SharpFuzz), each reduced to the smallest input that shows it and
/// the named error it must now give. The inputs as found are in fuzz/crashes/.
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
}

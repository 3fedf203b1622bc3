using System.Security.Cryptography;
using System.Text;
using SiteRecovery.Compute.Local;

namespace SiteRecovery.Compute.Tests;

public class GuestPayloadTests
{
    [Fact]
    public void Offsets_match_the_image_layout()
    {
        Assert.Equal(48L << 20, GuestPayload.AreaOffset);
        Assert.Equal(64L << 20, GuestPayload.AreaEnd);
        Assert.Equal((48L << 20) + 4096, GuestPayload.DataOffset);
        Assert.Equal((16 << 20) - 4096, GuestPayload.MaxDataBytes);
    }

    [Fact]
    public void Header_is_the_magic_length_and_sha256_then_zeros()
    {
        var data = Encoding.ASCII.GetBytes("hello, recovered world");
        var header = GuestPayload.Header(data);
        Assert.Equal(512, header.Length);
        var text = $"SRCHECK1 22 {Convert.ToHexStringLower(SHA256.HashData(data))}\n";
        Assert.Equal(text, Encoding.ASCII.GetString(header, 0, text.Length));
        Assert.All(header.Skip(text.Length), b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(100_003)]
    [InlineData((16 << 20) - 4096)]
    public void Header_round_trips_as_the_guest_reads_it(int length)
    {
        var data = RandomNumberGenerator.GetBytes(length);
        // The guest: the first line of the header with the zeros dropped, split on spaces.
        var line = Encoding.ASCII.GetString(GuestPayload.Header(data)).Replace("\0", "").Split('\n')[0];
        var words = line.Split(' ');
        Assert.Equal(["SRCHECK1", length.ToString(), GuestPayload.Sha256Hex(data)], words);
        Assert.Matches("^[0-9a-f]{64}$", words[2]);
    }

    [Fact]
    public void Area_is_the_header_padding_and_data_at_48_MiB()
    {
        var data = RandomNumberGenerator.GetBytes(10_000);
        var (offset, bytes) = GuestPayload.Area(data);
        Assert.Equal(GuestPayload.AreaOffset, offset);
        Assert.Equal(4096 + data.Length, bytes.Length);
        Assert.Equal(GuestPayload.Header(data), bytes[..512]);
        Assert.All(bytes[512..4096], b => Assert.Equal(0, b));
        Assert.Equal(data, bytes[4096..]);
    }

    [Fact]
    public void Data_over_the_area_is_refused()
    {
        var tooBig = new byte[GuestPayload.MaxDataBytes + 1];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GuestPayload.Header(tooBig));
        Assert.Contains($"{GuestPayload.MaxDataBytes + 1} bytes is over the area's {GuestPayload.MaxDataBytes}", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => GuestPayload.Area(tooBig));
    }

    [Fact]
    public void Parse_reads_the_three_results()
    {
        var sha = new string('a', 64);
        var other = new string('b', 64);
        Assert.Equal(new GuestCheckLine(GuestCheck.None, null, null, null, null), GuestPayload.Parse("SR-CHECK NONE"));
        Assert.Equal(new GuestCheckLine(GuestCheck.Ok, 123, sha, null, null), GuestPayload.Parse($"SR-CHECK OK bytes=123 sha256={sha}"));
        Assert.Equal(new GuestCheckLine(GuestCheck.Failed, null, null, sha, other), GuestPayload.Parse($"SR-CHECK FAILED expected={sha} actual={other}"));
        Assert.Equal(new GuestCheckLine(GuestCheck.Failed, null, null, sha, "malformed-header"), GuestPayload.Parse($"SR-CHECK FAILED expected={sha} actual=malformed-header"));
    }

    [Fact]
    public void Parse_tolerates_console_noise_around_the_line()
    {
        var sha = new string('c', 64);
        Assert.Equal(new GuestCheckLine(GuestCheck.Ok, 7, sha, null, null), GuestPayload.Parse($"[    1.234] junk SR-CHECK OK bytes=7 sha256={sha}\r"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("SR-BOOTED")]
    [InlineData("SR-CHECK")]
    [InlineData("SR-CHECK MAYBE")]
    [InlineData("SR-CHECK OK bytes=12")]
    [InlineData("SR-CHECK OK bytes=-1 sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("SR-CHECK OK bytes=12 sha256=abc")]
    [InlineData("SR-CHECK FAILED expected=abc")]
    public void Parse_returns_null_for_lines_without_a_whole_result(string line) => Assert.Null(GuestPayload.Parse(line));
}

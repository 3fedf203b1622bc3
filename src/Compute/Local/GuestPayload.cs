using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SiteRecovery.Compute.Local;

/// <summary>What the guest's <c>SR-CHECK</c> line said.</summary>
public enum GuestCheck
{
    /// <summary>The payload area holds no <c>SRCHECK1</c> header.</summary>
    None,
    /// <summary>The data's sha256 matched the header's.</summary>
    Ok,
    /// <summary>The data's sha256 did not match (or the header was malformed: <see cref="GuestCheckLine.Actual"/> is <c>malformed-header</c>).</summary>
    Failed,
}

/// <summary>One parsed <c>SR-CHECK</c> console line: <see cref="Bytes"/> and <see cref="Sha256"/> for OK, <see cref="Expected"/> and <see cref="Actual"/> for FAILED.</summary>
public sealed record GuestCheckLine(GuestCheck Result, long? Bytes, string? Sha256, string? Expected, string? Actual);

/// <summary>
/// The tiny test guest's payload contract (built by <c>tests/images/build-tiny-guest.sh</c>; its init implements the
/// other half). The boot disk's bytes <see cref="AreaOffset"/> .. <see cref="AreaEnd"/> lie outside every partition.
/// At <see cref="AreaOffset"/>: a <see cref="HeaderSize"/>-byte header, ASCII <c>SRCHECK1 &lt;length&gt; &lt;sha256hex&gt;\n</c>
/// padded with zeros; at <see cref="DataOffset"/>: the data, <c>length</c> bytes, at most <see cref="MaxDataBytes"/>.
/// At boot the guest prints <c>SR-CHECK NONE</c>, <c>SR-CHECK OK bytes=&lt;n&gt; sha256=&lt;hex&gt;</c> or
/// <c>SR-CHECK FAILED expected=&lt;hex&gt; actual=&lt;hex&gt;</c>, then its <c>SR-NET</c> line (<see cref="GuestNet"/>),
/// then <see cref="BootedMarker"/>.
/// </summary>
public static class GuestPayload
{
    public const long AreaOffset = 48L * 1024 * 1024;
    public const long AreaEnd = 64L * 1024 * 1024;
    public const int HeaderSize = 512;
    public const long DataOffset = AreaOffset + 4096;
    public const int MaxDataBytes = (int)(AreaEnd - DataOffset);
    public const string Magic = "SRCHECK1";

    /// <summary>The last line the guest prints once its checks are done.</summary>
    public const string BootedMarker = "SR-BOOTED";

    const string CheckPrefix = "SR-CHECK ";

    /// <summary>The 512-byte header for <paramref name="data"/>.</summary>
    public static byte[] Header(ReadOnlySpan<byte> data)
    {
        CheckLength(data.Length);
        var text = $"{Magic} {data.Length.ToString(CultureInfo.InvariantCulture)} {Sha256Hex(data)}\n";
        var header = new byte[HeaderSize];
        Encoding.ASCII.GetBytes(text, header);
        return header;
    }

    /// <summary>What to write at <c>Offset</c> on the boot disk: the header, zeros up to <see cref="DataOffset"/>, then the data.</summary>
    public static (long Offset, byte[] Bytes) Area(ReadOnlySpan<byte> data)
    {
        CheckLength(data.Length);
        var bytes = new byte[DataOffset - AreaOffset + data.Length];
        Header(data).CopyTo(bytes, 0);
        data.CopyTo(bytes.AsSpan((int)(DataOffset - AreaOffset)));
        return (AreaOffset, bytes);
    }

    /// <summary>The <c>SR-CHECK</c> result on <paramref name="consoleLine"/>, or null when the line carries none (or a malformed one).</summary>
    public static GuestCheckLine? Parse(string consoleLine)
    {
        var at = consoleLine.IndexOf(CheckPrefix, StringComparison.Ordinal);
        if (at < 0) return null;
        var words = consoleLine[(at + CheckPrefix.Length)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0) return null;
        string? Field(string key) => words.Skip(1).Where(w => w.StartsWith(key + "=", StringComparison.Ordinal)).Select(w => w[(key.Length + 1)..]).FirstOrDefault();
        switch (words[0])
        {
            case "NONE":
                return new GuestCheckLine(GuestCheck.None, null, null, null, null);
            case "OK":
                var sha = Field("sha256");
                return long.TryParse(Field("bytes"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && sha is { Length: 64 }
                    ? new GuestCheckLine(GuestCheck.Ok, n, sha, null, null)
                    : null;
            case "FAILED":
                var expected = Field("expected");
                var actual = Field("actual");
                return expected is null || actual is null ? null : new GuestCheckLine(GuestCheck.Failed, null, null, expected, actual);
            default:
                return null;
        }
    }

    /// <summary>Lower-case hex sha256, as the guest's busybox prints it.</summary>
    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    static void CheckLength(int length)
    {
        if (length > MaxDataBytes)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"guest payload: {length} bytes is over the area's {MaxDataBytes}");
    }
}

using SiteRecovery.Node.Access;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PeerTokensTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-peers-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    string File600(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("n")[..6]);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Fact]
    public void A_file_others_may_read_or_one_that_is_missing_stops_the_start_naming_the_flag()
    {
        var open = File600("");
        File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<ArgumentException>(() => PeerTokens.Open(open)).Message);
        Assert.Contains(PeerTokens.Flag, Assert.Throws<ArgumentException>(() => PeerTokens.Open(Path.Combine(_dir, "none"))).Message);
    }

    [Fact]
    public void The_token_of_a_site_is_found_by_its_scheme_host_and_port_and_read_afresh_at_each_call()
    {
        var path = File600("# sites this node fails back to\nhttp://127.0.0.1:9700 srt_aaaaaaaaaaaa.one\n\nmalformed-line\n");
        var peers = PeerTokens.Open(path);
        Assert.Null(peers.Missing("http://127.0.0.1:9700/"));
        Assert.Null(peers.Missing("HTTP://127.0.0.1:9700/api/x"));
        var missing = peers.Missing("http://127.0.0.1:9701");
        Assert.Contains("http://127.0.0.1:9701", missing);
        Assert.Contains(path, missing);
        Assert.Contains("no token", PeerTokens.Open(null).Missing("http://127.0.0.1:9700"));

        File.AppendAllText(path, "http://127.0.0.1:9701 srt_bbbbbbbbbbbb.two\n");
        Assert.Null(peers.Missing("http://127.0.0.1:9701"));
    }
}

using System.Text;
using SiteRecovery.Node.Failover;

namespace SiteRecovery.Tests.Failover;

/// <summary>
/// The reprotect polls a reverse agent's log for as long as its first sync runs: each poll must read only what the
/// agent wrote since the one before, hand out whole lines only, and start over when a new agent empties the log.
/// </summary>
public sealed class ReverseAgentLogTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-agent-log-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static void Append(string path, string text)
    {
        using var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        f.Write(Encoding.UTF8.GetBytes(text));
    }

    [Fact]
    public void Each_poll_reads_only_the_whole_lines_written_since_the_last_one()
    {
        var path = Path.Combine(_dir, "agent.log");
        var lines = new ReverseAgents.LogLines(path);
        Assert.Empty(lines.ReadNew());

        Append(path, "{\"event\":\"ready\"}\nstarted é\n");
        Assert.Equal(["{\"event\":\"ready\"}", "started é"], lines.ReadNew());
        var afterTwo = new FileInfo(path).Length;
        Assert.Equal(afterTwo, lines.Offset);
        Assert.Empty(lines.ReadNew());

        // A line the agent is still writing is not handed out, nor counted as read.
        Append(path, "{\"event\":\"resync-");
        Assert.Empty(lines.ReadNew());
        Assert.Equal(afterTwo, lines.Offset);
        Append(path, "complete\"}\r\nnext\n");
        Assert.Equal(["{\"event\":\"resync-complete\"}", "next"], lines.ReadNew());
        Assert.Equal(new FileInfo(path).Length, lines.Offset);

        // A new agent's log (emptied at its start) is read from its beginning.
        File.WriteAllText(path, "fresh\n");
        Assert.Equal(["fresh"], lines.ReadNew());
    }

    [Fact]
    public void A_log_not_yet_created_reads_as_empty()
    {
        var lines = new ReverseAgents.LogLines(Path.Combine(_dir, "none", "agent.log"));
        Assert.Empty(lines.ReadNew());
        Assert.Equal(0, lines.Offset);
    }
}

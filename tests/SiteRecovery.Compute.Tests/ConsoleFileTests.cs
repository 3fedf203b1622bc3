using System.Text;
using SiteRecovery.Compute.Local;

namespace SiteRecovery.Compute.Tests;

public sealed class ConsoleFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-console-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_missing_file_reads_as_no_lines()
    {
        var console = new ConsoleFile(Path.Combine(_dir, "absent.log"));
        Assert.Empty(console.ReadNew());
        Assert.Empty(console.Tail);
    }

    [Fact]
    public void Lines_come_once_each_and_a_partial_line_waits_for_its_newline()
    {
        var path = Path.Combine(_dir, "c.log");
        using var writer = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        void Write(string s) { writer.Write(Encoding.UTF8.GetBytes(s)); writer.Flush(); }
        var console = new ConsoleFile(path);

        Write("one\r\ntw");
        Assert.Equal(["one"], console.ReadNew());
        Assert.Equal(["one", "tw"], console.Tail);
        Write("o\nthree");
        Assert.Equal(["two"], console.ReadNew());
        Assert.Empty(console.ReadNew());
        Assert.Equal(["three"], console.ReadNew(final: true));
        Assert.Equal(["one", "two", "three"], console.Tail);
    }

    [Fact]
    public void Tail_keeps_the_last_lines_only()
    {
        var path = Path.Combine(_dir, "long.log");
        File.WriteAllLines(path, Enumerable.Range(1, 50).Select(i => $"line {i}"));
        var console = new ConsoleFile(path, keep: 20);
        Assert.Equal(50, console.ReadNew().Count);
        Assert.Equal(Enumerable.Range(31, 20).Select(i => $"line {i}"), console.Tail);
    }

    [Fact]
    public void A_multibyte_character_split_across_reads_survives()
    {
        var path = Path.Combine(_dir, "utf8.log");
        var bytes = Encoding.UTF8.GetBytes("é\n");
        using var writer = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        var console = new ConsoleFile(path);
        writer.Write(bytes, 0, 1); writer.Flush();
        Assert.Empty(console.ReadNew());
        writer.Write(bytes, 1, bytes.Length - 1); writer.Flush();
        Assert.Equal(["é"], console.ReadNew());
    }
}

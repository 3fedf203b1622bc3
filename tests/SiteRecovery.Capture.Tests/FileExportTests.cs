using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

public sealed class FileExportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"nbd-fe-{Guid.NewGuid():N}");

    public FileExportTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    [Fact]
    public void Opening_a_missing_path_names_the_path_and_reason()
    {
        var path = Path.Combine(_dir, "missing.img");
        var ex = Assert.Throws<IOException>(() => FileExport.Open(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("does not exist", ex.Message);
        var nested = Path.Combine(_dir, "no", "such", "dir.img");
        ex = Assert.Throws<IOException>(() => FileExport.Open(nested));
        Assert.Contains(nested, ex.Message);
    }

    [Fact]
    public void Opening_a_directory_names_the_path_and_reason()
    {
        var ex = Assert.Throws<IOException>(() => FileExport.Open(_dir));
        Assert.Contains(_dir, ex.Message);
        Assert.True(ex.Message.Length > _dir.Length + 30, ex.Message);
    }

    [Fact]
    public async Task Reads_writes_zeroes_trim_and_flush_hit_the_file()
    {
        var path = Path.Combine(_dir, "d.img");
        var initial = new byte[100_000];
        new Random(1).NextBytes(initial);
        await File.WriteAllBytesAsync(path, initial);
        using (var e = FileExport.Open(path, "d"))
        {
            Assert.Equal(("d", 100_000L, false), (e.Name, e.Size, e.ReadOnly));
            await e.WriteAsync(10, new byte[] { 1, 2, 3 }, fua: true, default);
            await e.WriteZeroesAsync(1000, 70_000, fua: true, default);
            await e.TrimAsync(99_000, 1000, default);
            await e.FlushAsync(default);
            var buf = new byte[5];
            await e.ReadAsync(9, buf, default);
            Assert.Equal(new byte[] { initial[9], 1, 2, 3, initial[13] }, buf);
        }
        var after = await File.ReadAllBytesAsync(path);
        Assert.Equal(100_000, after.Length);
        Assert.All(after.AsSpan(1000, 70_000).ToArray(), b => Assert.Equal(0, b));
        Assert.All(after.AsSpan(99_000).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(initial[999], after[999]);
        Assert.Equal(initial[71_000], after[71_000]);
    }

    [Fact]
    public async Task Read_only_export_cannot_write()
    {
        var path = Path.Combine(_dir, "ro.img");
        await File.WriteAllBytesAsync(path, new byte[4096]);
        using var e = FileExport.Open(path, readOnly: true);
        Assert.True(e.ReadOnly);
        Assert.Equal("ro.img", e.Name);
        await Assert.ThrowsAnyAsync<Exception>(async () => await e.WriteAsync(0, new byte[1], false, default));
    }
}

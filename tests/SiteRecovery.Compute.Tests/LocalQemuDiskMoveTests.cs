using System.Security.Cryptography;
using System.Text.Json.Nodes;
using SiteRecovery.Compute.Local;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

/// <summary>
/// Instant recovery's second half on a real qemu: a machine booted from NBD exports moves its disks onto image files
/// while it runs. The writes are the machine's own, made through its block layer (qemu-io in its monitor, the path a
/// guest's writes take), before and during the move; the images must hold the disks as the machine left them, byte
/// for byte, and the machine must go on without its exports.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalQemuDiskMoveTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    const int DataBytes = 32 << 20;
    const int Chunk = 64 << 10;

    [Fact]
    public async Task A_booted_machine_moves_onto_images_with_every_write_it_made_and_runs_on_without_its_exports()
    {
        var image = await TinyGuestImage.PathAsync();
        var dataFile = Path.Combine(Root, "data-source.img");
        var data = RandomNumberGenerator.GetBytes(DataBytes);
        await File.WriteAllBytesAsync(dataFile, data);
        var bootExport = await NbdExport.CopyOfAsync(image, "boot");
        var dataExport = await NbdExport.CopyOfAsync(dataFile, "data");
        var spec = TinyGuest.Spec(Root, "move") with { Network = NetworkMode.None };
        var machine = await Target.StartAsync(spec, [new DiskSource("d-boot", bootExport.Uri, TinyGuest.ImageBytes), new DiskSource("d-data", dataExport.Uri, DataBytes)], Ct);
        var exportsGone = false;
        try
        {
            var boot = await BootAsync(machine);
            Assert.True(boot.Booted, boot.Failure);
            var socket = Path.Combine(spec.WorkDirectory, QemuCommandLine.ControlSocketName);
            var images = new[] { Path.Combine(Root, "boot.img"), Path.Combine(Root, "data.img") };
            var moves = new[] { new DiskMove("d-boot", images[0]), new DiskMove("d-data", images[1]) };

            // Refused before anything moves: a disk the machine does not have, and two disks onto one image.
            var extra = await Assert.ThrowsAsync<DiskMoveException>(() => Target.MoveDisksAsync(machine, [.. moves, new DiskMove("d-other", Path.Combine(Root, "x.img"))], new DiskMoveLimits(TimeSpan.FromMinutes(1)), null, Ct));
            Assert.Contains("disk d-other (disk2) is not a drive of the running machine", extra.Message);
            var same = await Assert.ThrowsAsync<DiskMoveException>(() => Target.MoveDisksAsync(machine, [moves[0], moves[1] with { ImagePath = images[0] }], new DiskMoveLimits(TimeSpan.FromMinutes(1)), null, Ct));
            Assert.Equal($"machine {machine.MachineId}: disks d-boot and d-data would move onto one image {images[0]}", same.Message);
            // A move that runs out of time cancels the copies it began. Slowed to 1 MiB/s, so that the copies cannot be ready
            // at the first look (a move whose copies are done goes on whatever the time: on a quiet machine they were).
            var late = await Assert.ThrowsAsync<DiskMoveException>(() => Target.MoveDisksAsync(machine, moves, new DiskMoveLimits(TimeSpan.FromMilliseconds(1), BytesPerSecond: 1 << 20), null, Ct));
            Output.WriteLine(late.Message);
            Assert.Contains("the disks were not copied within 0 s (disk d-boot ", late.Message);
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct))
            {
                // The machine still reads its exports, and no copy runs on.
                Assert.Empty((JsonArray)(await qmp.ExecuteAsync("query-block-jobs", null, Ct))!);
                Assert.Equal([bootExport.Uri, dataExport.Uri], await DriveFilesAsync(qmp));
                // The machine writes before the move.
                await WriteAsync(qmp, 1, 0xA1, data);
            }

            // ... and while it moves: at each progress report (the jobs run between reports).
            var during = 0;
            IReadOnlyList<MovedDisk> moved;
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct))
            {
                var progress = new Inline(p =>
                {
                    Output.WriteLine($"move: {p.Copied}/{p.Total}");
                    if (during < 4) WriteAsync(qmp, 8 + during, (byte)(0xB0 + during++), data).GetAwaiter().GetResult();
                });
                moved = await DiskMirror.MoveAsync(qmp, machine.MachineId, moves, new DiskMoveLimits(TimeSpan.FromMinutes(2)), progress, Ct);
                Assert.Equal(images, await DriveFilesAsync(qmp));
            }
            Assert.InRange(during, 1, 4);
            Assert.Equal(["d-boot", "d-data"], moved.Select(m => m.DiskId));
            Assert.True(moved[1].BytesCopied >= DataBytes, $"{moved[1].BytesCopied} bytes copied of a {DataBytes}-byte disk");

            // The exports go; the machine runs on, and what it writes now lands in its image.
            await bootExport.DisposeAsync();
            await dataExport.DisposeAsync();
            exportsGone = true;
            await Task.Delay(1000);
            Assert.True(Target.IsRunning(machine));
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct)) await WriteAsync(qmp, 20, 0xC0, data);

            var bootSource = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(image)));
            Assert.Equal(bootSource, Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(images[0]))));
            var dataImage = await File.ReadAllBytesAsync(images[1]);
            Assert.True(data.AsSpan().SequenceEqual(dataImage), "the data image differs from the disk as the machine wrote it");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(images[1]));
        }
        finally
        {
            await Target.StopAsync(machine, Ct);
            if (!exportsGone)
            {
                await bootExport.DisposeAsync();
                await dataExport.DisposeAsync();
            }
        }
        AssertGone(machine);
        Assert.False(File.Exists(Path.Combine(spec.WorkDirectory, QemuCommandLine.ControlSocketName)), "qmp.sock left behind");
        var gone = await Assert.ThrowsAsync<DiskMoveException>(() => Target.MoveDisksAsync(machine, [new DiskMove("d-boot", Path.Combine(Root, "late.img"))], new DiskMoveLimits(TimeSpan.FromMinutes(1)), null, Ct));
        Assert.Contains("is not running", gone.Message);
    }

    /// <summary>The machine writes <see cref="Chunk"/> bytes of <paramref name="fill"/> at MiB <paramref name="mib"/> of its data disk; <paramref name="expected"/> follows.</summary>
    static async Task WriteAsync(QmpClient qmp, int mib, byte fill, byte[] expected)
    {
        var offset = mib << 20;
        // qemu-io prints to qemu's stdout (gone with -daemonize), not to the monitor: the write is checked by the images' bytes.
        await qmp.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = $"qemu-io disk1 \"write -P {fill} {offset} {Chunk}\"" }, Ct);
        Array.Fill(expected, fill, offset, Chunk);
    }

    static async Task<string[]> DriveFilesAsync(QmpClient qmp) =>
        ((JsonArray)(await qmp.ExecuteAsync("query-block", null, Ct))!).OfType<JsonObject>()
            .Where(d => d["device"]!.GetValue<string>().StartsWith("disk", StringComparison.Ordinal))
            .OrderBy(d => d["device"]!.GetValue<string>(), StringComparer.Ordinal)
            .Select(d => d["inserted"]?["file"]?.GetValue<string>() ?? "(none)").ToArray();

    /// <summary>Reports on the mover's own thread, between its requests (Progress&lt;T&gt; would post them elsewhere).</summary>
    sealed class Inline(Action<DiskMoveProgress> report) : IProgress<DiskMoveProgress>
    {
        public void Report(DiskMoveProgress value) => report(value);
    }
}

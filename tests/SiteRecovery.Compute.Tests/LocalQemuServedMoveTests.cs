using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SiteRecovery.Compute.Local;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

/// <summary>
/// A reprotect's live move on a real qemu: a machine running on an image file moves, while it runs, onto an NBD export
/// that serves that same file (nbdkit here, logging every request it gets, where a reprotect has its reverse agent).
/// Nothing may be copied (source and target are the same bytes; a copy would race the guest's writes), every write made
/// after the pivot must reach the file through the export, and a move that cannot reach its export leaves the machine on
/// its image, as does one a killed node left half done. The guest is a boot sector that jumps to itself, so the machine runs for good without an OS; its writes
/// are made through its block layer (qemu-io in its monitor, the path a guest's writes take).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class LocalQemuServedMoveTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    const int DiskBytes = 32 << 20;
    const int Chunk = 64 << 10;

    [Fact]
    public async Task A_running_machine_moves_onto_an_export_of_its_own_image_copying_nothing_and_writes_through_it_after_the_pivot()
    {
        var image = Path.Combine(Root, "disk.img");
        var expected = RandomNumberGenerator.GetBytes(DiskBytes);
        // jmp $ and the boot signature: firmware boots it and the machine spins there.
        Array.Clear(expected, 0, 512);
        expected[0] = 0xEB;
        expected[1] = 0xFE;
        expected[510] = 0x55;
        expected[511] = 0xAA;
        await File.WriteAllBytesAsync(image, expected);
        var spec = TinyGuest.Spec(Root, "live") with { Network = NetworkMode.None };
        var machine = await Target.StartAsync(spec, [new DiskSource("d0", new Uri(image).AbsoluteUri, DiskBytes)], Ct);
        var requests = Path.Combine(Root, "nbd-requests.log");
        NbdExport? export = null;
        try
        {
            var socket = Path.Combine(spec.WorkDirectory, QemuCommandLine.ControlSocketName);
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct))
            {
                Assert.Equal([image], await DriveFilesAsync(qmp));
                // Before the move the machine writes its image directly.
                await WriteAsync(qmp, 1, 0xA1, expected);
            }

            // An export nothing serves: refused, no job left, still on the image.
            var nowhere = $"nbd://127.0.0.1:{TinyGuest.FreePort()}/d0";
            var refused = await Assert.ThrowsAsync<DiskMoveException>(() => Target.MoveDisksOntoServedAsync(machine, [new DiskSource("d0", nowhere, DiskBytes)], TimeSpan.FromSeconds(30), Ct));
            Output.WriteLine(refused.Message);
            Assert.StartsWith($"machine {machine.MachineId}: the disks could not be moved onto their exports: ", refused.Message);
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct))
            {
                Assert.Empty((JsonArray)(await qmp.ExecuteAsync("query-block-jobs", null, Ct))!);
                Assert.Equal([image], await DriveFilesAsync(qmp));
                await WriteAsync(qmp, 2, 0xA2, expected);
            }

            export = await NbdExport.InPlaceAsync(image, "d0", requests);
            // A move interrupted before its switch (its node killed) left its job in qemu: the next move starts afresh.
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct))
                await qmp.ExecuteAsync("drive-mirror", new JsonObject
                {
                    ["device"] = "disk0", ["job-id"] = "disk0", ["target"] = export.Uri, ["format"] = "raw", ["sync"] = "none", ["mode"] = "existing", ["copy-mode"] = "write-blocking",
                }, Ct);
            await Target.MoveDisksOntoServedAsync(machine, [new DiskSource("d0", export.Uri, DiskBytes)], TimeSpan.FromMinutes(1), Ct);
            await using (var qmp = await QmpClient.ConnectAsync(socket, Ct))
            {
                Assert.Equal([export.Uri], await DriveFilesAsync(qmp));
                // After the pivot every write goes through the export.
                await WriteAsync(qmp, 5, 0xC5, expected);
                await WriteAsync(qmp, 9, 0xC9, expected);
            }
            // Repeated (a step resumed after the pivot): the drive is on its export already, nothing moves.
            await Target.MoveDisksOntoServedAsync(machine, [new DiskSource("d0", export.Uri, DiskBytes)], TimeSpan.FromMinutes(1), Ct);
            Assert.True(Target.IsRunning(machine), "the machine must run on after the move");

            // The export saw the writes after the pivot and nothing else written: no background copy of the disk, nor of
            // the writes the machine had made to its image before.
            var writes = Writes(await File.ReadAllTextAsync(requests));
            Output.WriteLine("writes through the export: " + string.Join(", ", writes.Select(w => $"{w.Offset:x}+{w.Count:x}")));
            Assert.Equal([(5L << 20, (long)Chunk), (9L << 20, (long)Chunk)], writes);

            var pid = machine.Pid;
            await Target.StopAsync(machine, Ct);
            Assert.False(TinyGuest.ProcessAlive(pid));
            var onDisk = await File.ReadAllBytesAsync(image);
            Assert.True(expected.AsSpan().SequenceEqual(onDisk), $"the image differs from the disk as the machine wrote it (sha256 {Convert.ToHexString(SHA256.HashData(onDisk))} want {Convert.ToHexString(SHA256.HashData(expected))})");
        }
        finally
        {
            await Target.StopAsync(machine, Ct);
            if (export is not null) await export.DisposeAsync();
        }
        AssertGone(machine);
    }

    /// <summary>The machine writes <see cref="Chunk"/> bytes of <paramref name="fill"/> at MiB <paramref name="mib"/> of its disk; <paramref name="expected"/> follows.</summary>
    static async Task WriteAsync(QmpClient qmp, int mib, byte fill, byte[] expected)
    {
        var offset = mib << 20;
        await qmp.ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = $"qemu-io disk0 \"write -P {fill} {offset} {Chunk}\"" }, Ct);
        Array.Fill(expected, fill, offset, Chunk);
    }

    static async Task<string[]> DriveFilesAsync(QmpClient qmp) =>
        ((JsonArray)(await qmp.ExecuteAsync("query-block", null, Ct))!).OfType<JsonObject>()
            .Where(d => d["device"]!.GetValue<string>().StartsWith("disk", StringComparison.Ordinal))
            .Select(d => d["inserted"]?["file"]?.GetValue<string>() ?? "(none)").ToArray();

    /// <summary>The writes in nbdkit's request log (each logged once as it starts: <c>Write id=N offset=0x… count=0x… …</c>).</summary>
    static List<(long Offset, long Count)> Writes(string log) =>
        WriteLine().Matches(log).Select(m => (long.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            long.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture))).ToList();

    [GeneratedRegex(@" Write id=\d+ offset=0x([0-9a-f]+) count=0x([0-9a-f]+)")]
    private static partial Regex WriteLine();
}

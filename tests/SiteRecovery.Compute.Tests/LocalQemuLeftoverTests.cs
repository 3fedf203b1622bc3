using SiteRecovery.Compute.Local;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

/// <summary>
/// What a node killed in the middle of a start leaves: a running qemu that only its work folder knows, with its
/// machine.json (killed after the start) or with its pid file alone (killed between the daemon's start and the record).
/// A fresh target finds and stops both from the folder; a folder whose pid is not a qemu of that folder is left alone.
/// </summary>
public sealed class LocalQemuLeftoverTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    [Fact]
    public async Task A_fresh_target_stops_what_a_start_left_in_its_folder_with_or_without_the_record()
    {
        var image = await TinyGuestImage.PathAsync();
        await using var disk1 = await NbdExport.CopyOfAsync(image, "left1");
        await using var disk2 = await NbdExport.CopyOfAsync(image, "left2");
        var recorded = await Target.StartAsync(TinyGuest.Spec(Root, "left-recorded"), [new DiskSource("d1", disk1.Uri, TinyGuest.ImageBytes)], Ct);
        var unrecorded = await Target.StartAsync(TinyGuest.Spec(Root, "left-unrecorded"), [new DiskSource("d2", disk2.Uri, TinyGuest.ImageBytes)], Ct);
        var unrecordedFolder = Path.GetDirectoryName(unrecorded.ConsolePath)!;
        File.Delete(Path.Combine(unrecordedFolder, LocalQemuTarget.HandleFileName));
        try
        {
            var fresh = new LocalQemuTarget();
            var first = await fresh.StopLeftoverAsync(Path.GetDirectoryName(recorded.ConsolePath)!, Ct);
            Assert.Equal($"machine {recorded.MachineId} stopped (pid {recorded.Pid})", first);
            var second = await fresh.StopLeftoverAsync(unrecordedFolder, Ct);
            Assert.Equal($"an unrecorded machine in {unrecordedFolder} stopped (pid {unrecorded.Pid})", second);
            Assert.False(TinyGuest.ProcessAlive(recorded.Pid));
            Assert.False(TinyGuest.ProcessAlive(unrecorded.Pid));
            Assert.Null(await fresh.StopLeftoverAsync(unrecordedFolder, Ct));

            // A pid file naming some other process (a recycled pid) is not ours: nothing is signalled.
            File.WriteAllText(Path.Combine(unrecordedFolder, LocalQemuTarget.PidFileName), Environment.ProcessId.ToString());
            Assert.Null(await fresh.StopLeftoverAsync(unrecordedFolder, Ct));
        }
        finally
        {
            await Target.StopAsync(recorded, Ct);
            await Target.StopAsync(unrecorded, Ct);
        }
    }
}

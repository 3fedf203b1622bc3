using System.Security.Cryptography;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Tests.Support;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A failback that returns a machine to the original site: that site's master target gives the machine's original disk
/// file back (it held the reverse replication). What it acknowledged is in the file; the file's lock is released for
/// the agent that serves it next; and from then on neither an offer, a read of a point, nor a restarted master target
/// opens it again, each refusal naming why, because a redo of its journal would write over the running machine's writes.
/// </summary>
public sealed class GiveBackTests
{
    const long Size = 1L << 20;
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task A_disk_given_back_keeps_what_was_acknowledged_lets_go_of_its_file_and_is_refused_from_then_on()
    {
        var root = Tools.TempDirectory("give-back");
        var orig = Path.Combine(root, "orig.img");
        await File.WriteAllBytesAsync(orig, Enumerable.Repeat((byte)0x33, (int)Size).ToArray());
        var adopted = new Dictionary<string, string> { ["d1"] = orig };
        // The master target's folder outlives each site (a site deletes its own root when disposed).
        var mtFolder = Path.Combine(root, "mt");
        void Configure(Site s)
        {
            s.ConfigureTarget = o => o with { DataDirectory = mtFolder };
            s.WrapReplicas = _ => new LocalFileReplicaStoreFactory(Path.Combine(mtFolder, "replicas"), "mt-1", adopted);
        }
        const string why = "failback job j9 returned machine vm1 to this site";
        await using (var site = await Site.StartServersAsync("give-back", Configure))
        {
            await using var ps = await WireClient.ConnectAsync(site.TargetEndpoint!);
            Assert.Equal(0, await ps.HelloAsync("ps-x", "d1", Size));
            var payload = Enumerable.Repeat((byte)0xC4, 4096).ToArray();
            await ps.SendDeltaAsync(Delta.Create("d1", 1, DeltaKind.Write, 8192, payload.Length, payload, Now));
            await ps.AckedAsync("d1", 1);

            await site.Target.GiveBackAsync("d1", why);
            Assert.True(await ps.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "the disk's connection stayed open after it was given back");
            // The file is free for its next writer, and holds what was acknowledged.
            await using (var file = new FileStream(orig, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                var bytes = new byte[Size];
                await file.ReadExactlyAsync(bytes);
                var expected = Enumerable.Repeat((byte)0x33, (int)Size).ToArray();
                payload.CopyTo(expected, 8192);
                Assert.Equal(SHA256.HashData(expected), SHA256.HashData(bytes));
            }
            var before = SHA256.HashData(await File.ReadAllBytesAsync(orig));

            await using var again = await WireClient.ConnectAsync(site.TargetEndpoint!);
            await again.SendControlAsync(new Hello("ps-x", [new DiskOffer("d1", Size, "vm1")]));
            var refused = Assert.IsType<Refused>(await again.ReadControlAsync());
            Assert.Contains($"disk d1 was given back to its machine at this site ({why})", refused.Reason);
            var read = await Assert.ThrowsAsync<InvalidDataException>(() => site.Target.GetDiskAsync("d1"));
            Assert.Contains("serves none of its points", read.Message);
            // Giving it back twice is harmless.
            await site.Target.GiveBackAsync("d1", "again");
            Assert.Equal(before, SHA256.HashData(await File.ReadAllBytesAsync(orig)));
        }

        // A master target started again over the same folder (as after a reboot, with the same --replica-file) refuses it too.
        await using (var site = await Site.StartServersAsync("give-back-2", Configure))
        {
            await using var ps = await WireClient.ConnectAsync(site.TargetEndpoint!);
            await ps.SendControlAsync(new Hello("ps-x", [new DiskOffer("d1", Size, "vm1")]));
            Assert.Contains("was given back", Assert.IsType<Refused>(await ps.ReadControlAsync()).Reason);
        }
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }
}

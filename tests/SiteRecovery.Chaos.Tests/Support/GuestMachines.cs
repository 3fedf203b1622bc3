using System.Security.Cryptography;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// Protected machines whose boot disk is the tiny test guest: the image (<see cref="TinyGuestImage"/>) is written
/// through the machine's agent with nbdcopy, then the guest's own data and checksum into the payload area its init
/// verifies at boot.
/// </summary>
public static class GuestMachines
{
    /// <summary>Writes the guest and <paramref name="dataBytes"/> bytes of its data through <paramref name="uri"/>; returns the data's SHA-256 (what the guest prints).</summary>
    public static async Task<string> SeedAsync(string uri, string workDir, int seed, int dataBytes = 1 << 20)
    {
        await ExternalTool.RunOkAsync("nbdcopy", [await TinyGuestImage.PathAsync(), uri], TimeSpan.FromMinutes(2));
        var data = new byte[dataBytes];
        new Random(seed).NextBytes(data);
        var (offset, area) = GuestPayload.Area(data);
        var file = Path.Combine(workDir, $"payload-{seed}.bin");
        await File.WriteAllBytesAsync(file, area);
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", $"write -s {file} {offset} {area.Length}"], TimeSpan.FromMinutes(1));
        return Convert.ToHexStringLower(SHA256.HashData(data));
    }

    public static async Task<string> Sha256Async(string path)
    {
        await using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(f));
    }
}

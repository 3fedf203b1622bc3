using System.Security.Cryptography;

namespace SiteRecovery.Tests.Support;

/// <summary>File helpers for the tests; the real clients (qemu-io, fio, nbdcopy) run through <see cref="Contracts.Processes.ExternalTool"/>.</summary>
public static class Tools
{
    public static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    public static string TempDirectory(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "sr-tests", $"{name}-{Guid.NewGuid():n}"[..(name.Length + 9)]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

using System.Text;

namespace SiteRecovery.Agent.Consistency;

/// <summary>The mount points of this process's mount namespace, read from <c>/proc/self/mountinfo</c> (Linux only).</summary>
public static class MountTable
{
    const string MountInfo = "/proc/self/mountinfo";

    /// <summary>Every mount point (empty off Linux). Paths are as the kernel shows them, octal escapes (<c>\040</c>) decoded.</summary>
    public static IReadOnlyList<string> MountPoints()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(MountInfo)) return [];
        return File.ReadLines(MountInfo)
            .Select(l => l.Split(' '))
            .Where(f => f.Length > 4)
            .Select(f => Unescape(f[4]))
            .ToList();
    }

    public static bool IsMountPoint(string path) => MountPoints().Contains(Normalize(path), StringComparer.Ordinal);

    /// <summary>The mount point whose filesystem holds <paramref name="path"/> (the longest mount point above it).</summary>
    public static string? MountOf(string path)
    {
        var full = Normalize(path);
        return MountPoints()
            .Where(m => m == "/" || full == m || full.StartsWith(m + "/", StringComparison.Ordinal))
            .OrderByDescending(m => m.Length)
            .FirstOrDefault();
    }

    /// <summary>Full path without a trailing slash (except the root).</summary>
    public static string Normalize(string path)
    {
        var full = Path.GetFullPath(path);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }

    static string Unescape(string field)
    {
        if (!field.Contains('\\')) return field;
        var sb = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(field[i]);
        }
        return sb.ToString();
    }

    static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s.AsSpan(at, 3).IndexOfAnyExcept("01234567") < 0;
}

using System.Reflection;

namespace SiteRecovery.Contracts.Control;

/// <summary>
/// The product's version, which every component reports when it registers or renews its certificate, so the site's
/// upgrade order holds: the configuration server first, then process servers, then master targets (and agents): a
/// component newer than its configuration server is refused, naming both versions. Versions are compared as
/// <c>MAJOR.MINOR.PATCH[-PRERELEASE]</c> (semantic versioning's precedence); build metadata after <c>+</c> is ignored.
/// </summary>
public static class ProductVersion
{
    /// <summary>This build's version (its informational version without build metadata).</summary>
    public static string Current { get; } = Of(typeof(ProductVersion).Assembly);

    static string Of(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                            ?? assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        var plus = informational.IndexOf('+');
        return plus < 0 ? informational : informational[..plus];
    }

    /// <summary>Why <paramref name="text"/> is not a version, or null.</summary>
    public static string? Problem(string? text) => TryParse(text, out _) ? null
        : $"'{text}' is not a version (MAJOR.MINOR.PATCH, optionally -PRERELEASE)";

    /// <summary>Negative, zero or positive as <paramref name="a"/> precedes, equals or follows <paramref name="b"/>. Both must parse.</summary>
    public static int Compare(string a, string b)
    {
        if (!TryParse(a, out var x)) throw new FormatException(Problem(a));
        if (!TryParse(b, out var y)) throw new FormatException(Problem(b));
        for (var i = 0; i < 3; i++)
            if (x.Numbers[i] != y.Numbers[i]) return x.Numbers[i].CompareTo(y.Numbers[i]);
        // A pre-release precedes its release; two pre-releases compare identifier by identifier.
        if (x.Pre.Length == 0 || y.Pre.Length == 0) return (x.Pre.Length == 0 ? 1 : 0) - (y.Pre.Length == 0 ? 1 : 0);
        for (var i = 0; i < Math.Min(x.Pre.Length, y.Pre.Length); i++)
        {
            var (p, q) = (x.Pre[i], y.Pre[i]);
            var pn = ulong.TryParse(p, out var pv);
            var qn = ulong.TryParse(q, out var qv);
            var c = pn && qn ? pv.CompareTo(qv) : pn ? -1 : qn ? 1 : string.CompareOrdinal(p, q);
            if (c != 0) return c;
        }
        return x.Pre.Length.CompareTo(y.Pre.Length);
    }

    /// <summary>
    /// Why a <paramref name="kind"/> <paramref name="componentId"/> of <paramref name="componentVersion"/> may not join a
    /// configuration server of <paramref name="serverVersion"/>, or null when it may (same or older).
    /// </summary>
    public static string? NewerThanServerProblem(ComponentKind kind, string componentId, string componentVersion, string serverVersion) =>
        Compare(componentVersion, serverVersion) <= 0 ? null
            : $"{kind} '{componentId}' is version {componentVersion}, newer than its configuration server's {serverVersion}: " +
              "upgrade the configuration server first (the site's order: configuration server, then process servers, then master targets)";

    readonly record struct Parsed(ulong[] Numbers, string[] Pre);

    static bool TryParse(string? text, out Parsed parsed)
    {
        parsed = default;
        if (string.IsNullOrEmpty(text) || text.Length > 64) return false;
        var plus = text.IndexOf('+');
        var core = plus < 0 ? text : text[..plus];
        var dash = core.IndexOf('-');
        var numbers = (dash < 0 ? core : core[..dash]).Split('.');
        if (numbers.Length != 3) return false;
        var values = new ulong[3];
        for (var i = 0; i < 3; i++)
            if (numbers[i].Length == 0 || !numbers[i].All(char.IsAsciiDigit) || !ulong.TryParse(numbers[i], out values[i])) return false;
        var pre = dash < 0 ? [] : core[(dash + 1)..].Split('.');
        if (pre.Any(p => p.Length == 0 || !p.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '-'))) return false;
        parsed = new Parsed(values, pre);
        return true;
    }
}

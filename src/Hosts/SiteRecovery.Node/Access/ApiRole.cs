namespace SiteRecovery.Node.Access;

/// <summary>
/// What a token may do on the API, each role including the ones below it. A reader sees the site; an operator runs the
/// day-to-day work that moves no machine and serves no disk (bookmarks, resyncs, test failovers and their cleanup); a
/// recovery admin moves machines and reads disks (planned and unplanned failovers, commit, rollback, reprotect,
/// failback, recoveries to files, NBD exports, plans); an admin sets the site up and holds its secrets (vaults,
/// registration keys, configuration servers, passphrases, protection, tokens).
/// </summary>
public enum ApiRole
{
    Reader = 1,
    Operator = 2,
    RecoveryAdmin = 3,
    Admin = 4,
}

public static class ApiRoles
{
    /// <summary>The names the API and srctl use: reader, operator, recovery-admin, admin.</summary>
    public static string Name(ApiRole role) => role switch
    {
        ApiRole.Reader => "reader",
        ApiRole.Operator => "operator",
        ApiRole.RecoveryAdmin => "recovery-admin",
        ApiRole.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };

    public static IReadOnlyList<string> Names { get; } = Enum.GetValues<ApiRole>().Select(Name).ToList();

    public static bool TryParse(string? text, out ApiRole role)
    {
        foreach (var r in Enum.GetValues<ApiRole>())
            if (string.Equals(Name(r), text?.Trim(), StringComparison.OrdinalIgnoreCase)) { role = r; return true; }
        role = default;
        return false;
    }

    public static bool Allows(this ApiRole held, ApiRole needed) => held >= needed;
}

using System.Net;
using SiteRecovery.Actors.Hosting;

namespace SiteRecovery.Node;

/// <summary>The roles one node process can run; "all" is every one of them.</summary>
[Flags]
public enum NodeRoles
{
    None = 0,
    Configuration = 1,
    ProcessServer = 2,
    MasterTarget = 4,
    All = Configuration | ProcessServer | MasterTarget,
}

/// <summary>Everything a node needs, validated from the command line.</summary>
public sealed record NodeOptions(
    string NodeId,
    NodeRoles Roles,
    string DataDirectory,
    IPEndPoint ProcessServerListen,
    IPEndPoint MasterTargetListen,
    EndPoint MasterTargetEndpoint,
    string ApiUrl,
    PersistenceSettings Persistence,
    Akka.Configuration.Config DataPath)
{
    /// <summary>When set, the node's data-path roles register with a configuration server at start-up.</summary>
    public ComponentRegistrationSettings? Registration { get; init; }

    /// <summary>Disks whose replica the master target keeps in an existing file (<c>--replica-file</c>, see <see cref="Node.ReplicaFiles"/>).</summary>
    public IReadOnlyDictionary<string, string> ReplicaFiles { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The one directory POST /api/recover writes images into (<c>--recovery-dir</c>, default <c>&lt;data&gt;/recovered</c>):
    /// the API takes no credentials yet, so a caller must not be able to name any other file on this machine.
    /// </summary>
    public string RecoveryDirectory { get; init; } = "";

    /// <summary>
    /// Whether POST /api/disks/{id}/exports may listen on an address other than loopback (<c>--exports-listen-any</c>):
    /// an NBD export serves a recovery point, a whole disk, to anyone who can reach its port.
    /// </summary>
    public bool ExportsListenAny { get; init; }

    /// <summary>
    /// Mutual TLS required of every client of an export POST /api/disks/{id}/exports makes (<c>--exports-tls-certificate</c>,
    /// <c>-key</c>, <c>-client-ca</c>); with it an export may listen on any address, since a client certificate is the
    /// authentication. Null: plain NBD. A failover's own exports stay plain on loopback: the machine the node starts on
    /// them is its own, and holds no client certificate.
    /// </summary>
    public SiteRecovery.Capture.Nbd.NbdTls? ExportsTls { get; init; }

    /// <summary>Most exports this node serves at once before the API refuses a new one (<c>--max-exports</c>); each holds a listener and a pinned point.</summary>
    public int MaxExports { get; init; } = DefaultMaxExports;

    public const int DefaultMaxExports = 16;

    /// <summary>Where the journal's connection string may come from when neither <c>--journal-connection</c> nor <c>--journal-connection-file</c> is given.</summary>
    public const string JournalConnectionVariable = "SITERECOVERY_JOURNAL_CONNECTION";

    /// <summary>
    /// The journal's connection string from the first source given: the flag (visible to every user in /proc, kept for
    /// tests and local runs), the file, or <see cref="JournalConnectionVariable"/>. Null when none is. Errors name the
    /// source, never the string: it may hold a password.
    /// </summary>
    public static string? JournalConnection(string? flag, string? file, Func<string, string?> environment)
    {
        if (flag is { Length: > 0 } && file is { Length: > 0 })
            throw new ArgumentException("--journal-connection and --journal-connection-file: give one of them, not both");
        if (flag is { Length: > 0 }) return flag;
        if (file is { Length: > 0 })
        {
            string text;
            try { text = File.ReadAllText(Path.GetFullPath(file)).Trim(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"--journal-connection-file '{file}' cannot be read: {e.Message}");
            }
            if (text.Length == 0) throw new ArgumentException($"--journal-connection-file '{file}' is empty; it must hold the journal's connection string");
            return text;
        }
        return environment(JournalConnectionVariable) is { Length: > 0 } fromEnv ? fromEnv.Trim() : null;
    }

    /// <summary>
    /// Creates the data directory 0700, or tightens an existing one to 0700: replicas, journals and spools hold the
    /// protected machines' disks, and a directory others can enter exposes every file below it that a library created
    /// with the umask.
    /// </summary>
    public static void PrepareDataDirectory(string dataDirectory)
    {
        SiteRecovery.Contracts.Storage.PrivateFiles.CreateDirectory(dataDirectory);
        if (OperatingSystem.IsWindows()) return;
        if ((File.GetUnixFileMode(dataDirectory) & ~SiteRecovery.Contracts.Storage.PrivateFiles.DirectoryMode) == 0) return;
        try { File.SetUnixFileMode(dataDirectory, SiteRecovery.Contracts.Storage.PrivateFiles.DirectoryMode); }
        catch (UnauthorizedAccessException e) { throw new ArgumentException($"--data '{dataDirectory}': cannot make it private to this user (0700): {e.Message}"); }
    }

    /// <summary>
    /// Creates the SQLite journal file 0600 before SQLite opens it (SQLite would create it with the umask, and gives its
    /// -wal and -shm files the mode of the database file).
    /// </summary>
    public static void PrepareSqliteJournal(PersistenceSettings persistence)
    {
        if (persistence.Provider != PersistenceSettings.SqliteProvider) return;
        var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(persistence.ConnectionString).DataSource;
        if (file is { Length: > 0 } && file != ":memory:") SiteRecovery.Contracts.Storage.PrivateFiles.CreateIfMissing(file);
    }

    /// <summary>
    /// The recovery directory as a full path, created 0700 when missing (an existing one keeps its mode: the operator
    /// chose it). <paramref name="given"/> null means <c>&lt;data&gt;/recovered</c>.
    /// </summary>
    public static string PrepareRecoveryDirectory(string? given, string dataDirectory)
    {
        var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(given is { Length: > 0 } ? given : Path.Combine(dataDirectory, "recovered")));
        if (File.Exists(dir)) throw new ArgumentException($"--recovery-dir '{dir}' is a file, not a directory");
        SiteRecovery.Contracts.Storage.PrivateFiles.CreateDirectory(dir);
        return dir;
    }

    public static NodeRoles ParseRoles(string text)
    {
        var roles = NodeRoles.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            roles |= part.ToLowerInvariant() switch
            {
                "all" => NodeRoles.All,
                "configuration" or "config" => NodeRoles.Configuration,
                "process-server" or "ps" => NodeRoles.ProcessServer,
                "master-target" or "mt" => NodeRoles.MasterTarget,
                _ => throw new ArgumentException($"--roles: '{part}' is not a role (all, configuration, process-server, master-target)"),
            };
        }
        if (roles == NodeRoles.None) throw new ArgumentException("--roles: no role given (all, configuration, process-server, master-target)");
        return roles;
    }
}

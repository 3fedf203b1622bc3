using Microsoft.Data.Sqlite;

namespace SiteRecovery.Actors.Hosting;

/// <summary>
/// Where the control plane's journal and snapshot store live.
/// <paramref name="Provider"/> is one of <c>sqlite</c>, <c>postgres</c>, <c>sqlserver</c>.
/// </summary>
public sealed record PersistenceSettings(string Provider, string ConnectionString)
{
    public const string SqliteProvider = "sqlite";
    public const string PostgresProvider = "postgres";
    public const string SqlServerProvider = "sqlserver";

    public static IReadOnlyList<string> AllowedProviders { get; } = [SqliteProvider, PostgresProvider, SqlServerProvider];

    public const string SqliteFileName = "journal.db";

    /// <summary>A SQLite file <c>journal.db</c> under <paramref name="dataDirectory"/> (created at start-up if missing).</summary>
    public static PersistenceSettings Sqlite(string dataDirectory) =>
        new(SqliteProvider, new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(Path.GetFullPath(dataDirectory), SqliteFileName),
        }.ToString());

    /// <summary>PostgreSQL (Npgsql connection string, e.g. <c>Host=..;Port=5432;Username=..;Password=..;Database=..</c>).</summary>
    public static PersistenceSettings Postgres(string connectionString) => new(PostgresProvider, connectionString);

    /// <summary>SQL Server 2022 (the host process must also reference a SqlClient provider for Linq2Db).</summary>
    public static PersistenceSettings SqlServer(string connectionString) => new(SqlServerProvider, connectionString);

    /// <summary>Linq2Db provider name used by Akka.Persistence.Sql for this provider.</summary>
    public string Linq2DbProviderName => Provider switch
    {
        SqliteProvider => "SQLite.MS",
        PostgresProvider => "PostgreSQL.15",
        SqlServerProvider => "SqlServer.2022",
        _ => throw PersistenceStartupException.UnknownProvider(Provider),
    };

    /// <summary>Connection string without secrets, for error messages and logs.</summary>
    public override string ToString() => $"{Provider}: {PersistenceStartupCheck.Describe(this)}";
}

/// <summary>Thrown at start-up when the persistence configuration is invalid or the database is unreachable.</summary>
public sealed class PersistenceStartupException(string message, Exception? inner = null) : InvalidOperationException(message, inner)
{
    internal static PersistenceStartupException UnknownProvider(string? provider) =>
        new($"Unknown persistence provider '{provider}'. Allowed providers: {string.Join(", ", PersistenceSettings.AllowedProviders)}.");
}

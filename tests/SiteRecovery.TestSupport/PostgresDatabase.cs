using Npgsql;

namespace SiteRecovery.TestSupport;

/// <summary>A throw-away PostgreSQL database per test (created from SR_TEST_POSTGRES, dropped on dispose).</summary>
public sealed class PostgresDatabase : IDisposable
{
    public const string DefaultConnectionString =
        "Host=127.0.0.1;Port=5432;Username=siterecovery;Password=siterecovery;Database=siterecovery_test";

    public static string BaseConnectionString =>
        Environment.GetEnvironmentVariable("SR_TEST_POSTGRES") is { Length: > 0 } s ? s : DefaultConnectionString;

    private readonly string _name = $"sr_test_{Guid.NewGuid():N}";

    public PostgresDatabase()
    {
        try
        {
            Execute($"CREATE DATABASE \"{_name}\"");
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"PostgreSQL is not reachable at '{new NpgsqlConnectionStringBuilder(BaseConnectionString) { Password = null }}' (env SR_TEST_POSTGRES): {ex.Message}. " +
                "Run tests/setup-postgres.sh as root to install/start PostgreSQL and create the test role and database.", ex);
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(BaseConnectionString) { Database = _name }.ConnectionString;
    }

    public string ConnectionString { get; }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            Execute($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)");
        }
        catch (NpgsqlException)
        {
            // best effort cleanup
        }
    }

    private static void Execute(string sql)
    {
        var builder = new NpgsqlConnectionStringBuilder(BaseConnectionString) { Timeout = 5, Pooling = false };
        using var connection = new NpgsqlConnection(builder.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

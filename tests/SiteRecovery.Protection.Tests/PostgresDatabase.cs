using Npgsql;

namespace SiteRecovery.Protection.Tests;

/// <summary>A fresh PostgreSQL database per test, dropped afterwards. Fails (does not skip) when PostgreSQL is unreachable.</summary>
internal sealed class PostgresDatabase : IDisposable
{
    private const string Default = "Host=127.0.0.1;Port=5432;Username=siterecovery;Password=siterecovery;Database=siterecovery_test";

    private static string Server => Environment.GetEnvironmentVariable("SR_TEST_POSTGRES") is { Length: > 0 } s ? s : Default;

    private readonly string _name = $"sr_prot_{Guid.NewGuid():N}";

    public PostgresDatabase()
    {
        try
        {
            Run($"CREATE DATABASE \"{_name}\"");
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"PostgreSQL is not reachable at '{Server}' (override with env SR_TEST_POSTGRES): {ex.Message}. " +
                "Start it and create the role siterecovery/siterecovery (CREATEDB) with tests/setup-postgres.sh (as root).", ex);
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(Server) { Database = _name }.ConnectionString;
    }

    public string ConnectionString { get; }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            Run($"DROP DATABASE IF EXISTS \"{_name}\" WITH (FORCE)");
        }
        catch (NpgsqlException)
        {
            // cleanup is best effort
        }
    }

    private static void Run(string sql)
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Server) { Timeout = 5, Pooling = false }.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace SiteRecovery.Actors.Hosting;

/// <summary>
/// Validates <see cref="PersistenceSettings"/> before Akka starts: known provider, and a test connection
/// (Microsoft.Data.Sqlite / Npgsql / TCP for SQL Server). Failures throw <see cref="PersistenceStartupException"/>
/// naming the provider and the host or file.
/// </summary>
public static class PersistenceStartupCheck
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    public static void EnsureUsable(PersistenceSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!PersistenceSettings.AllowedProviders.Contains(settings.Provider))
            throw PersistenceStartupException.UnknownProvider(settings.Provider);
        if (string.IsNullOrWhiteSpace(settings.ConnectionString))
            throw new PersistenceStartupException($"Persistence provider '{settings.Provider}' needs a non-empty connection string.");

        switch (settings.Provider)
        {
            case PersistenceSettings.SqliteProvider: CheckSqlite(settings); break;
            case PersistenceSettings.PostgresProvider: CheckPostgres(settings); break;
            case PersistenceSettings.SqlServerProvider: CheckSqlServer(settings); break;
        }
    }

    /// <summary>Host/port/database or file of the settings, without credentials.</summary>
    public static string Describe(PersistenceSettings settings)
    {
        try
        {
            switch (settings.Provider)
            {
                case PersistenceSettings.SqliteProvider:
                    return $"file '{new SqliteConnectionStringBuilder(settings.ConnectionString).DataSource}'";
                case PersistenceSettings.PostgresProvider:
                    var pg = new NpgsqlConnectionStringBuilder(settings.ConnectionString);
                    return $"host {pg.Host}:{pg.Port}, database '{pg.Database}'";
                case PersistenceSettings.SqlServerProvider:
                    var (host, port) = SqlServerEndpoint(settings.ConnectionString);
                    return $"host {host}:{port}";
                default:
                    return "(unknown provider)";
            }
        }
        catch (ArgumentException)
        {
            return "(unparseable connection string)";
        }
    }

    private static void CheckSqlite(PersistenceSettings settings)
    {
        string file;
        try
        {
            file = new SqliteConnectionStringBuilder(settings.ConnectionString).DataSource;
        }
        catch (ArgumentException ex)
        {
            throw new PersistenceStartupException($"Invalid sqlite connection string: {ex.Message}", ex);
        }

        try
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(file));
            if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
            using var connection = new SqliteConnection(settings.ConnectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            command.ExecuteScalar();
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new PersistenceStartupException(
                $"Persistence provider 'sqlite': cannot open database file '{file}': {ex.Message}", ex);
        }
    }

    private static void CheckPostgres(PersistenceSettings settings)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(settings.ConnectionString);
        }
        catch (ArgumentException ex)
        {
            throw new PersistenceStartupException($"Invalid postgres connection string: {ex.Message}", ex);
        }

        builder.Timeout = Math.Min(builder.Timeout, (int)ConnectTimeout.TotalSeconds);
        builder.Pooling = false;
        try
        {
            using var connection = new NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            command.ExecuteScalar();
        }
        catch (Exception ex) when (ex is NpgsqlException or SocketException or TimeoutException or InvalidOperationException)
        {
            throw new PersistenceStartupException(
                $"Persistence provider 'postgres': cannot connect to host {builder.Host}:{builder.Port}, database '{builder.Database}' as user '{builder.Username}': {ex.Message}", ex);
        }
    }

    private static void CheckSqlServer(PersistenceSettings settings)
    {
        string host;
        int port;
        try
        {
            (host, port) = SqlServerEndpoint(settings.ConnectionString);
        }
        catch (ArgumentException ex)
        {
            throw new PersistenceStartupException($"Invalid sqlserver connection string: {ex.Message}", ex);
        }

        try
        {
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(ConnectTimeout);
            client.ConnectAsync(host, port, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            throw new PersistenceStartupException(
                $"Persistence provider 'sqlserver': cannot connect to host {host}:{port}: {ex.Message}", ex);
        }
    }

    private static (string Host, int Port) SqlServerEndpoint(string connectionString)
    {
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        string? server = null;
        foreach (var key in new[] { "Server", "Data Source", "Address", "Addr", "Network Address" })
        {
            if (builder.TryGetValue(key, out var value) && value is string s && !string.IsNullOrWhiteSpace(s))
            {
                server = s;
                break;
            }
        }

        if (server is null) throw new ArgumentException("no Server/Data Source given");
        if (server.StartsWith("tcp:", StringComparison.OrdinalIgnoreCase)) server = server[4..];
        var port = 1433;
        var comma = server.IndexOf(',');
        if (comma >= 0)
        {
            port = int.Parse(server[(comma + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            server = server[..comma];
        }

        var backslash = server.IndexOf('\\');
        if (backslash >= 0) server = server[..backslash];
        if (server is "." or "(local)") server = "localhost";
        return (server.Trim(), port);
    }
}

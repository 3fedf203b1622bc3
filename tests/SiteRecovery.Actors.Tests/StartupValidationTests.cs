using SiteRecovery.Actors.Hosting;
using Xunit;

namespace SiteRecovery.Actors.Tests;

public sealed class StartupValidationTests
{
    [Fact]
    public async Task Unknown_provider_lists_the_allowed_ones()
    {
        var settings = new PersistenceSettings("oracle", "Data Source=x");
        var direct = Assert.Throws<PersistenceStartupException>(() => PersistenceStartupCheck.EnsureUsable(settings));
        AssertNamesAllowedProviders(direct.Message);

        var viaHost = await Assert.ThrowsAnyAsync<Exception>(() => ActorTestNode.StartAsync(settings));
        AssertNamesAllowedProviders(Flatten(viaHost));
        return;

        static void AssertNamesAllowedProviders(string message)
        {
            Assert.Contains("'oracle'", message);
            Assert.Contains("sqlite, postgres, sqlserver", message);
        }
    }

    [Fact]
    public async Task Unreachable_postgres_names_provider_and_host()
    {
        var settings = PersistenceSettings.Postgres("Host=127.0.0.1;Port=1;Username=u;Password=p;Database=db;Timeout=3");
        var ex = Assert.Throws<PersistenceStartupException>(() => PersistenceStartupCheck.EnsureUsable(settings));
        Assert.Contains("postgres", ex.Message);
        Assert.Contains("127.0.0.1:1", ex.Message);
        Assert.DoesNotContain("Password=p", ex.Message);

        var viaHost = await Assert.ThrowsAnyAsync<Exception>(() => ActorTestNode.StartAsync(settings));
        Assert.Contains("127.0.0.1:1", Flatten(viaHost));
    }

    [Fact]
    public void Unusable_sqlite_file_names_provider_and_file()
    {
        var blocker = Path.GetTempFileName(); // a file where the data directory should be
        try
        {
            var settings = PersistenceSettings.Sqlite(Path.Combine(blocker, "data"));
            var ex = Assert.Throws<PersistenceStartupException>(() => PersistenceStartupCheck.EnsureUsable(settings));
            Assert.Contains("sqlite", ex.Message);
            Assert.Contains(Path.Combine(blocker, "data", PersistenceSettings.SqliteFileName), ex.Message);
        }
        finally
        {
            File.Delete(blocker);
        }
    }

    [Fact]
    public void Unreachable_sqlserver_names_provider_and_host()
    {
        var settings = PersistenceSettings.SqlServer("Server=tcp:127.0.0.1,1;Database=x;User Id=u;Password=p");
        var ex = Assert.Throws<PersistenceStartupException>(() => PersistenceStartupCheck.EnsureUsable(settings));
        Assert.Contains("sqlserver", ex.Message);
        Assert.Contains("127.0.0.1:1", ex.Message);
    }

    [Fact]
    public void Sqlite_settings_point_at_journal_db_under_the_data_directory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "sr-startup-" + Guid.NewGuid().ToString("N"));
        var settings = PersistenceSettings.Sqlite(dir);
        Assert.Equal("sqlite", settings.Provider);
        Assert.Equal("SQLite.MS", settings.Linq2DbProviderName);
        Assert.Contains(Path.Combine(dir, "journal.db"), settings.ConnectionString);
        PersistenceStartupCheck.EnsureUsable(settings);
        Assert.True(File.Exists(Path.Combine(dir, "journal.db")));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, true);
    }

    private static string Flatten(Exception ex)
    {
        var parts = new List<string>();
        for (Exception? e = ex; e is not null; e = e.InnerException) parts.Add(e.Message);
        if (ex is AggregateException agg) parts.AddRange(agg.Flatten().InnerExceptions.Select(e => e.Message));
        return string.Join(" | ", parts);
    }
}

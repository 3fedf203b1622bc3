using Npgsql;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>The all-in-one node with its control-plane journal in PostgreSQL: recovery points survive a node restart.</summary>
public sealed class PostgresJournalTests
{
    const string Server = "Host=127.0.0.1;Port=5432;Username=siterecovery;Password=siterecovery";
    const string Disk = "disk1";

    static async Task<string> CreateDatabaseAsync()
    {
        var name = "sr_chaos_" + Guid.NewGuid().ToString("n")[..12];
        try
        {
            await using var c = new NpgsqlConnection(Server + ";Database=postgres;Timeout=5;Pooling=false");
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
        {
            Assert.Fail($"PostgreSQL at 127.0.0.1:5432 (role siterecovery) is not usable: {e.Message}. Start it with: sudo bash tests/setup-postgres.sh");
        }
        return name;
    }

    static async Task DropDatabaseAsync(string name)
    {
        try
        {
            await using var c = new NpgsqlConnection(Server + ";Database=postgres;Timeout=5;Pooling=false");
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", c);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException) { }
    }

    [Fact]
    public async Task Recovery_point_survives_node_restart_with_postgres_journal()
    {
        var db = await CreateDatabaseAsync();
        try
        {
            using var dir = new TempDir("pg");
            var diskPath = dir["disk1.img"];
            Files.CreateDisk(diskPath, 32L << 20, seed: 3);
            var cs = $"{Server};Database={db}";
            using var node = new Node("pg", "all", dir["n"], dir.Path, null, "--journal-provider", "postgres", "--journal-connection", cs);
            await node.StartAsync();
            using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
            await agent.StartAsync();

            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x42 0 2M", "-c", "write -P 0x43 17M 1M", "-c", "write -z 30M 1M"], TimeSpan.FromMinutes(1));
            await node.BookmarkAsync("pg-bm", [Disk], TimeSpan.FromSeconds(60));
            var expected = Files.Sha256(diskPath);

            await node.StopAsync();
            Assert.False(File.Exists(Path.Combine(node.DataDir, "journal.db")), "the node wrote a SQLite journal although postgres was configured");
            await node.StartAsync();

            ApiResponse view;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            do
            {
                view = await node.Api.GetAsync($"api/disks/{Disk}");
                if (view.Status == System.Net.HttpStatusCode.OK) break;
                await Task.Delay(200);
            } while (DateTime.UtcNow < deadline);
            Assert.True(view.Status == System.Net.HttpStatusCode.OK, $"disk {Disk} is not known after the restart: {view.Text}\n{node.Logs()}");
            var points = view.Body!["recoveryPoints"]!.AsArray().Select(p => p!["bookmarkId"]!.GetValue<string>()).ToList();
            Assert.Contains("pg-bm", points);

            var output = dir["recovered.img"];
            Assert.Equal(expected, await node.RecoverAsync(Disk, "pg-bm", output));
            Assert.Equal(expected, Files.Sha256(output));

            await using var c = new NpgsqlConnection(cs + ";Timeout=5;Pooling=false");
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", c);
            Assert.True((long)(await cmd.ExecuteScalarAsync())! > 0, "the postgres database has no journal tables");
        }
        finally { await DropDatabaseAsync(db); }
    }
}

namespace SiteRecovery.Capture.Tests;

/// <summary>
/// <see cref="Nbd.NbdServer.ClientsOf"/>, which a planned failover waits on: a client counts for the export it chose, only
/// after the handshake chose it, and no longer once it has disconnected.
/// </summary>
public class ClientsOfTests
{
    static async Task WaitForAsync(Func<int> count, int want, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (count() != want && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.True(count() == want, $"{what}: got {count()} clients, want {want}");
    }

    [Fact]
    public async Task A_client_counts_for_its_export_from_the_handshake_until_it_disconnects()
    {
        await using var server = await TestServer.StartAsync();
        Assert.Equal(0, server.Server.ClientsOf("disk"));

        // Connected but still in the handshake: it has chosen no export yet.
        await using var greeting = await NbdTestClient.ConnectAsync(server.EndPoint);
        await Task.Delay(100);
        Assert.Equal(0, server.Server.ClientsOf("disk"));

        var (a, _) = await NbdTestClient.OpenAsync(server.EndPoint, "disk");
        var (b, _) = await NbdTestClient.OpenAsync(server.EndPoint, "disk");
        var (c, _) = await NbdTestClient.OpenAsync(server.EndPoint, "small");
        await WaitForAsync(() => server.Server.ClientsOf("disk"), 2, "disk with two clients");
        Assert.Equal(1, server.Server.ClientsOf("small"));
        Assert.Equal(0, server.Server.ClientsOf("ro"));

        await a.DisposeAsync();
        await WaitForAsync(() => server.Server.ClientsOf("disk"), 1, "disk after one client closed");
        await b.DisposeAsync();
        await c.DisposeAsync();
        await WaitForAsync(() => server.Server.ClientsOf("disk"), 0, "disk after both closed");
        await WaitForAsync(() => server.Server.ClientsOf("small"), 0, "small after its client closed");
    }
}

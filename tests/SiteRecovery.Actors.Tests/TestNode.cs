using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;

namespace SiteRecovery.Actors.Tests;

/// <summary>A control-plane node on Microsoft.Extensions.Hosting + Akka.Hosting, as a real host would wire it.</summary>
internal sealed class TestNode : IAsyncDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private readonly IHost _host;

    private TestNode(IHost host) => _host = host;

    public ActorSystem System => _host.Services.GetRequiredService<ActorSystem>();
    public ActorRegistry Registry => _host.Services.GetRequiredService<ActorRegistry>();

    public static async Task<TestNode> StartAsync(PersistenceSettings persistence, EntitySettings? entities = null)
    {
        var host = new HostBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .ConfigureServices(services => services.AddAkka("sr-test", b => b
                .AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend)
                .AddSiteRecoveryPersistence(persistence)
                .AddControlPlaneActors(entities)))
            .Build();
        try
        {
            await host.StartAsync();
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new TestNode(host);
    }

    public async Task<T> Ask<TRegion, T>(object message) =>
        await (await Registry.GetAsync<TRegion>()).Ask<T>(message, AskTimeout);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

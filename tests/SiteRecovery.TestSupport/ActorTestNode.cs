using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.TestSupport;

/// <summary>
/// The one actor test node of the test projects: a control-plane node on Microsoft.Extensions.Hosting + Akka.Hosting,
/// wired as a real host wires it (SQL persistence with the tagging adapter, the control serializer, the control-plane
/// regions), plus whatever a test adds (<c>AddRegistrationActors</c>, <c>AddAlerting</c>, its own actors).
/// For Akka.TestKit and bare actor systems, <see cref="InMemory"/> is the same node's configuration on the in-memory journal.
/// </summary>
public sealed class ActorTestNode : IAsyncDisposable
{
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    // Read-journal followers (alerts, the scheduler) poll; the default 3 s would make every wait in a test that long.
    private const string Hocon = """
        akka.loglevel = WARNING
        akka.persistence.query.journal.sql.refresh-interval = 100ms
        """;

    private readonly IHost _host;

    private ActorTestNode(IHost host) => _host = host;

    public ActorSystem System => _host.Services.GetRequiredService<ActorSystem>();
    public ActorRegistry Registry => _host.Services.GetRequiredService<ActorRegistry>();

    /// <summary>Starts a node on <paramref name="persistence"/>; <paramref name="entities"/> null = <see cref="EntitySettings.Default"/>.</summary>
    public static async Task<ActorTestNode> StartAsync(
        PersistenceSettings persistence, EntitySettings? entities = null, Action<AkkaConfigurationBuilder>? add = null)
    {
        var host = new HostBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .ConfigureServices(services => services.AddAkka("sr-test", b =>
            {
                b.AddHocon(Hocon, HoconAddMode.Prepend)
                    .AddSiteRecoveryPersistence(persistence)
                    .AddControlPlaneActors(entities);
                add?.Invoke(b);
            }))
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

        return new ActorTestNode(host);
    }

    public Task<IActorRef> GetAsync<TKey>() => Registry.GetAsync<TKey>();

    public async Task<T> Ask<TKey, T>(object message) => await (await GetAsync<TKey>()).Ask<T>(message, AskTimeout);

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }

    /// <summary>
    /// The node's configuration on the in-memory journal and snapshot store, for Akka.TestKit and bare actor systems;
    /// <paramref name="hocon"/> (e.g. debug logging) takes precedence.
    /// </summary>
    public static Config InMemory(string? hocon = null) =>
        ConfigurationFactory.ParseString(hocon ?? "").WithFallback(ConfigurationFactory.ParseString($$"""
            {{Hocon}}
            akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
            akka.actor {
              serializers { {{ControlJsonSerializer.SerializerName}} = "{{typeof(ControlJsonSerializer).AssemblyQualifiedName}}" }
              serialization-bindings {
                "{{typeof(IControlEvent).AssemblyQualifiedName}}" = {{ControlJsonSerializer.SerializerName}}
                "{{typeof(IControlSnapshot).AssemblyQualifiedName}}" = {{ControlJsonSerializer.SerializerName}}
              }
            }
            """));

    /// <summary>A bare actor system with <see cref="InMemory"/>'s configuration (serializer tests); the caller terminates it.</summary>
    public static ActorSystem CreateSystem(string name) => ActorSystem.Create(name, InMemory());
}

using Akka.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SiteRecovery.Actors.Hosting;

/// <summary>
/// Defers an actor's start until the host has started. Akka starts before the node's other hosted services (the data
/// path) and before the HTTP API answers; an actor whose effects go through those would otherwise act on a node that is
/// half up: the group point scheduler would hand the retention windows it reads from the journal to a master target
/// that does not exist yet, and they would be lost until the next group change.
/// </summary>
static class HostStart
{
    public static void AfterHostStarted(IDependencyResolver resolver, string what, Action start)
    {
        var lifetime = resolver.GetService<IHostApplicationLifetime>()
            ?? throw new InvalidOperationException($"{what} starts once the host has started, but the host has no {nameof(IHostApplicationLifetime)}");
        // A registration made after the host has started runs at once, so a late Akka start still starts the actor.
        lifetime.ApplicationStarted.Register(start);
    }
}

using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node;

/// <summary>
/// Reserves a bookmark's name on every disk it will cover, in each disk's aggregate, before any marker goes into a
/// stream: a name already used is refused up front, naming the point that has it, and two concurrent requests for
/// one name cannot both pass. Without the configuration role (no aggregates here) nothing is reserved.
/// </summary>
public sealed class BookmarkNames(ActorRegistry registry, NodeOptions options)
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A held reservation; dispose it to release the names (a recorded point has consumed its own already).</summary>
    public sealed class Reservation(IActorRef? disks, string bookmark, string id, IReadOnlyList<string> held) : IDisposable
    {
        public void Dispose()
        {
            if (disks is null) return;
            foreach (var d in held) disks.Tell(new ReleaseBookmarkName(d, bookmark, id));
        }
    }

    /// <summary>
    /// Reserves <paramref name="bookmark"/> on <paramref name="diskIds"/> for <paramref name="lifetime"/>. Throws
    /// <see cref="BookmarkNameTakenException"/> naming the disk and the point (or request) that holds the name;
    /// nothing stays reserved then.
    /// </summary>
    public async Task<Reservation> ReserveAsync(string bookmark, IEnumerable<string> diskIds, TimeSpan lifetime)
    {
        if (!options.Roles.HasFlag(NodeRoles.Configuration)) return new Reservation(null, bookmark, "", []);
        var disks = registry.Get<ProtectedDisksRegion>();
        var id = Guid.NewGuid().ToString("n");
        var held = new List<string>();
        var reservation = new Reservation(disks, bookmark, id, held);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var disk in diskIds.Distinct().Order(StringComparer.Ordinal))
        {
            var reply = await disks.Ask<CommandResult>(new ReserveBookmarkName(disk, bookmark, id, now, now + (long)lifetime.TotalMilliseconds + 60_000), AskTimeout);
            if (reply is CommandResult.Rejected { Reason: not RejectionReason.NotRegistered } rejected)
            {
                reservation.Dispose();
                throw new BookmarkNameTakenException(rejected.Message);
            }
            // A disk the control plane does not know yet has no point to collide with; the data path refuses it if it is unknown there too.
            if (reply.IsAccepted) held.Add(disk);
        }
        return reservation;
    }
}

/// <summary>The bookmark's name is already used (or being taken) on one of its disks; nothing was inserted.</summary>
public sealed class BookmarkNameTakenException(string message) : InvalidOperationException(message);

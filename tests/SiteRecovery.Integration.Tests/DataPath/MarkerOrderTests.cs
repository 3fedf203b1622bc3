using System.Net;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A disk refuses a recovery point whose sequence is below its newest one, so the master target must report a disk's
/// points in sequence order even while a group bookmark waits for its markers: single-machine points before the
/// group's marker go out at once, those after it wait until the coordinator has recorded the group's point.
/// </summary>
public class MarkerOrderTests
{
    [Fact]
    public async Task Points_before_a_group_marker_are_reported_at_once_and_points_after_it_once_the_group_is_recorded()
    {
        var root = Tools.TempDirectory("marker-order");
        var events = new RecordingEvents();
        await using var target = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), root),
            new LocalFileReplicaStoreFactory(Path.Combine(root, "replicas"), "mt-1"), events, _ => { });

        // The coordinator starts a group bookmark: it waits for the group's marker on d1 and d2.
        var onD1 = target.GroupMarkerDurableAsync("d1", "grp-1");
        _ = target.GroupMarkerDurableAsync("d2", "grp-1");

        // A single-machine marker inserted before the group's on d1 becomes durable: it goes out at once.
        target.MarkerDurable("d1", new DurableMarker(10, "auto-1", 1));
        Assert.Equal([("d1", "auto-1", 10L)], events.Points.ToList());

        // The group's marker, then one after it: that one waits (the group's point, #11, is not recorded yet).
        target.MarkerDurable("d1", new DurableMarker(11, GroupMarker.For("grp-1"), 2));
        Assert.Equal(11, await onD1.WaitAsync(TimeSpan.FromSeconds(5)));
        target.MarkerDurable("d1", new DurableMarker(12, "auto-2", 3));
        Assert.Single(events.Points);

        // The coordinator has recorded the group's point and lets go: the held point follows it.
        target.ForgetGroupMarkers("grp-1", ["d1", "d2"]);
        Assert.Equal([("d1", "auto-1", 10L), ("d1", "auto-2", 12L)], events.Points.ToList());

        // With no group waiting, a point goes out at once.
        target.MarkerDurable("d1", new DurableMarker(13, "auto-3", 4));
        Assert.Equal(3, events.Points.Count);
    }
}

using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Consistency;

/// <summary>A group bookmark the schedule wants taken now.</summary>
public sealed record DueGroupBookmark(string GroupId, bool AppConsistent, IReadOnlyList<string> Machines, string BookmarkId);

/// <summary>One protection group as the schedule knows it from the journal.</summary>
public sealed record ScheduledGroup(
    string GroupId,
    ReplicationSettings Settings,
    ImmutableSortedSet<string> Machines,
    long? LastAppAttemptUnixMs,
    long? LastCrashAttemptUnixMs);

/// <summary>
/// When each protection group is due a group bookmark: an application-consistent one every
/// <see cref="ReplicationSettings.AppConsistentFrequency"/> (the first as soon as the group has machines, and again as soon
/// as a machine joins), and, for a
/// group with multi-VM consistency and more than one machine, a crash-consistent group point every
/// <c>crashInterval</c>, so the group always has recent points that are consistent across its machines (the
/// per-machine automatic points are not). Built from the group events of the journal; pure, so the rules are tested
/// without a clock or a network. An attempt counts whether or not it committed: a failing group is retried at its
/// next interval, not in a loop.
/// </summary>
public sealed record GroupSchedule(ImmutableDictionary<string, ScheduledGroup> Groups)
{
    public static readonly GroupSchedule Empty = new(ImmutableDictionary<string, ScheduledGroup>.Empty.WithComparers(StringComparer.Ordinal));

    /// <summary>Follows the protection-group events; every other event leaves the schedule as it is.</summary>
    public GroupSchedule Apply(object @event) => @event switch
    {
        ProtectionGroupCreated e => this with { Groups = Groups.SetItem(e.GroupId, Groups.TryGetValue(e.GroupId, out var g) ? g with { Settings = e.Settings } : new ScheduledGroup(e.GroupId, e.Settings, ImmutableSortedSet.Create<string>(StringComparer.Ordinal), null, null)) },
        ReplicationSettingsChanged e when Groups.TryGetValue(e.GroupId, out var g) => this with { Groups = Groups.SetItem(e.GroupId, g with { Settings = e.Settings }) },
        // A machine that joins has no app-consistent point of the group yet: the group's next one is due at once, not an
        // interval after the last one (which did not cover it).
        MachineAddedToGroup e when Groups.TryGetValue(e.GroupId, out var g) => this with { Groups = Groups.SetItem(e.GroupId, g with
        {
            Machines = g.Machines.Add(e.MachineId),
            LastAppAttemptUnixMs = g.Machines.Contains(e.MachineId) ? g.LastAppAttemptUnixMs : null,
        }) },
        MachineRemovedFromGroup e when Groups.TryGetValue(e.GroupId, out var g) => this with { Groups = Groups.SetItem(e.GroupId, g with { Machines = g.Machines.Remove(e.MachineId) }) },
        _ => this,
    };

    /// <summary>The bookmarks due at <paramref name="nowUnixMs"/>, at most one per group (app-consistent first).</summary>
    public IReadOnlyList<DueGroupBookmark> Due(long nowUnixMs, TimeSpan? crashInterval)
    {
        var due = new List<DueGroupBookmark>();
        foreach (var g in Groups.Values.OrderBy(g => g.GroupId, StringComparer.Ordinal))
        {
            if (g.Machines.Count == 0) continue;
            // To the millisecond: a machine that joins makes the next app-consistent point due at once, often in the same
            // second as the group's previous one, and a bookmark name names one point (a second-stamped name was refused
            // as taken, and the new member went without an app-consistent point for a whole interval).
            var stamp = DateTimeOffset.FromUnixTimeMilliseconds(nowUnixMs).UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture);
            var app = g.Settings.AppConsistentFrequency;
            if (app > TimeSpan.Zero && (g.LastAppAttemptUnixMs is not { } lastApp || nowUnixMs - lastApp >= (long)app.TotalMilliseconds))
            {
                due.Add(new DueGroupBookmark(g.GroupId, true, g.Machines.ToList(), $"app-{g.GroupId}-{stamp}"));
                continue;
            }
            if (crashInterval is { } every && every > TimeSpan.Zero && g.Settings.MultiVmConsistency && g.Machines.Count > 1
                && (g.LastCrashAttemptUnixMs is not { } lastCrash || nowUnixMs - lastCrash >= (long)every.TotalMilliseconds))
                due.Add(new DueGroupBookmark(g.GroupId, false, g.Machines.ToList(), $"grp-{g.GroupId}-{stamp}"));
        }
        return due;
    }

    /// <summary>Each member machine's retention window, from its group (a machine is in one group at most).</summary>
    public IReadOnlyDictionary<string, TimeSpan> RetentionWindows() =>
        Groups.Values.SelectMany(g => g.Machines.Select(m => (Machine: m, g.Settings.RetentionWindow)))
            .GroupBy(x => x.Machine, StringComparer.Ordinal)
            .ToDictionary(x => x.Key, x => x.Min(y => y.RetentionWindow), StringComparer.Ordinal);

    /// <summary>Records that <paramref name="bookmark"/> was attempted at <paramref name="nowUnixMs"/>.</summary>
    public GroupSchedule Attempted(DueGroupBookmark bookmark, long nowUnixMs) =>
        !Groups.TryGetValue(bookmark.GroupId, out var g) ? this
        : this with
        {
            Groups = Groups.SetItem(g.GroupId, bookmark.AppConsistent
                // An app-consistent group point is also a group-consistent one: the crash interval restarts too.
                ? g with { LastAppAttemptUnixMs = nowUnixMs, LastCrashAttemptUnixMs = nowUnixMs }
                : g with { LastCrashAttemptUnixMs = nowUnixMs }),
        };
}

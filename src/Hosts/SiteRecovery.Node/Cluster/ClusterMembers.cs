using Akka.Actor;
using Akka.Cluster;

namespace SiteRecovery.Node.Cluster;

/// <summary>One member as this node sees it (<c>GET /api/cluster/members</c>).</summary>
public sealed record ClusterMemberView(string Address, string Endpoint, string Status, IReadOnlyList<string> Roles,
    bool Leader, bool Oldest, bool Reachable, bool Self);

/// <summary>How the node decides who goes down when members are unreachable (from the running system's settings).</summary>
public sealed record SplitBrainView(string Strategy, long StableAfterMs, long HeartbeatIntervalMs, long AcceptableHeartbeatPauseMs);

/// <summary>The membership this node sees: every member, its status, roles and reachability, the leader and the oldest.</summary>
public sealed record ClusterMembersView(string Self, string? Leader, string? Oldest, SplitBrainView SplitBrainResolver, IReadOnlyList<ClusterMemberView> Members)
{
    /// <summary>
    /// The view of <paramref name="state"/> from <paramref name="self"/>. The oldest is the member Up longest (Up, Leaving
    /// or Exiting): the one a cluster singleton runs on; the leader is the member that moves others between statuses.
    /// </summary>
    public static ClusterMembersView From(ClusterEvent.CurrentClusterState state, Address self, SplitBrainView sbr)
    {
        var oldest = state.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting)
            .Aggregate((Member?)null, (o, m) => o is null || m.IsOlderThan(o) ? m : o);
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        var members = state.Members.Select(m => new ClusterMemberView(m.Address.ToString(), EndpointOf(m.Address), Name(m.Status),
            m.Roles.Order(StringComparer.Ordinal).ToList(), m.Address.Equals(state.Leader), oldest is not null && m.Address.Equals(oldest.Address),
            !unreachable.Contains(m.Address), m.Address.Equals(self))).ToList();
        return new ClusterMembersView(self.ToString(), state.Leader?.ToString(), oldest?.Address.ToString(), sbr, members);
    }

    /// <summary>
    /// The member that <paramref name="text"/> names: its full address (<c>akka.tcp://siterecovery@HOST:PORT</c>) or its
    /// HOST:PORT. Null with the reason when the text is no address (<c>BadAddress</c>) or names no member (<c>NoMember</c>).
    /// </summary>
    public static (Address? Member, ClusterAddressRefusal? Refusal, string? Why) Find(IEnumerable<Address> members, string text)
    {
        var list = members.ToList();
        Address? wanted;
        if (text.Contains("://", StringComparison.Ordinal))
        {
            try { wanted = Address.Parse(text); }
            catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException) { wanted = null; }
            if (wanted is not { Host.Length: > 0, Port: > 0 })
                return (null, ClusterAddressRefusal.BadAddress, $"'{text}' is not a cluster address (akka.tcp://{ClusterSettings.SystemName}@HOST:PORT or HOST:PORT)");
        }
        else
        {
            try { wanted = ClusterEndpoint.Parse("address", text).Address(ClusterSettings.SystemName); }
            catch (ArgumentException)
            {
                return (null, ClusterAddressRefusal.BadAddress, $"'{text}' is not a cluster address (akka.tcp://{ClusterSettings.SystemName}@HOST:PORT or HOST:PORT)");
            }
        }
        var found = list.FirstOrDefault(a => a.Equals(wanted));
        return found is not null
            ? (found, null, null)
            : (null, ClusterAddressRefusal.NoMember, $"no cluster member at {text}; members: {string.Join(", ", list.Select(a => a.ToString()))}");
    }

    static string EndpointOf(Address a) => new ClusterEndpoint(a.Host ?? "", a.Port ?? 0).ToString();

    static string Name(MemberStatus s) => s == MemberStatus.WeaklyUp ? "weakly-up" : s.ToString().ToLowerInvariant();
}

/// <summary>Why a leave or down names no member.</summary>
public enum ClusterAddressRefusal
{
    /// <summary>The text is no cluster address: 400.</summary>
    BadAddress,
    /// <summary>No member of the cluster has that address: 404.</summary>
    NoMember,
}

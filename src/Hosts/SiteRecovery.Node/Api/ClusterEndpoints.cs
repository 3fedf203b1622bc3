using Akka.Actor;
using SiteRecovery.Node.Cluster;

namespace SiteRecovery.Node.Api;

/// <summary>The body of a leave or a down: the member's address, in full or as HOST:PORT.</summary>
public sealed record ClusterMemberBody(string? Address);

/// <summary>What a leave or a down asked: the member's full address and the action.</summary>
public sealed record ClusterActionResponse(string Address, string Action);

/// <summary>
/// The cluster as this node sees it (<see cref="ClusterMembersView"/>), and the two ways an operator ends a member's
/// membership: a leave (the member hands over and exits on its own) and a down (the member is declared gone, for one
/// that cannot leave: dead, or cut off). Both are audited by the access middleware like every state-changing call; a
/// member that leaves or is downed stops its data path and exits (<see cref="ClusterExit"/>).
/// </summary>
public static class ClusterEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/cluster/members", (ActorSystem system) =>
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            return Results.Ok(ClusterMembersView.From(cluster.State, cluster.SelfAddress, SplitBrain(system)));
        });
        app.MapPost("/api/cluster/leave", (ClusterMemberBody body, ActorSystem system) => Act(system, body, "leave", (c, a) => c.Leave(a)));
        app.MapPost("/api/cluster/down", (ClusterMemberBody body, ActorSystem system) => Act(system, body, "down", (c, a) => c.Down(a)));
    }

    static IResult Act(ActorSystem system, ClusterMemberBody body, string action, Action<Akka.Cluster.Cluster, Address> act)
    {
        if (body.Address is not { Length: > 0 } text) return Results.BadRequest(new ApiError("request body field 'address' is required"));
        var cluster = Akka.Cluster.Cluster.Get(system);
        var (member, refusal, why) = ClusterMembersView.Find(cluster.State.Members.Select(m => m.Address), text);
        if (member is null)
            return refusal == ClusterAddressRefusal.NoMember ? Results.NotFound(new ApiError($"{action}: {why}")) : Results.BadRequest(new ApiError($"{action}: {why}"));
        act(cluster, member);
        return Results.Json(new ClusterActionResponse(member.ToString(), action), statusCode: StatusCodes.Status202Accepted);
    }

    static SplitBrainView SplitBrain(ActorSystem system)
    {
        var c = system.Settings.Config;
        return new SplitBrainView(c.GetString("akka.cluster.split-brain-resolver.active-strategy"),
            (long)c.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after").TotalMilliseconds,
            (long)c.GetTimeSpan("akka.cluster.failure-detector.heartbeat-interval").TotalMilliseconds,
            (long)c.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause").TotalMilliseconds);
    }
}

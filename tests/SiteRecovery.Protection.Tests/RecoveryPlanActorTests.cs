using Akka.Actor;
using Microsoft.Data.Sqlite;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.RecoveryPlanRulesTests;

namespace SiteRecovery.Protection.Tests;

/// <summary>Akka.TestKit tests of the recovery-plan region and directory on the in-memory journal.</summary>
public sealed class RecoveryPlanActorTests() : Akka.TestKit.Xunit2.TestKit(ActorTestNode.InMemory())
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly EntitySettings Settings = new(2, null);

    private void Accept(IActorRef region, object command, int events)
    {
        region.Tell(command);
        Assert.Equal(new CommandResult.Accepted(events), ExpectMsg<CommandResult>(Wait));
    }

    private T Query<T>(IActorRef actor, object query)
    {
        actor.Tell(query);
        return ExpectMsg<T>(Wait);
    }

    private async Task Kill(IActorRef parent, string childName)
    {
        var child = await Sys.ActorSelection(parent.Path / childName).ResolveOne(Wait);
        Watch(child);
        child.Tell(PoisonPill.Instance);
        ExpectTerminated(child, Wait);
    }

    [Fact]
    public async Task Plan_entity_recovers_its_state_after_being_killed_and_the_directory_lists_it()
    {
        var directory = Sys.ActorOf(RecoveryPlanDirectory.Props(Settings), "plan-directory");
        var region = Sys.ActorOf(RecoveryPlansRegion.Props(Settings, directory), "plans");
        Accept(region, new CreateRecoveryPlan("p1", "vault-a", "tier 1", ThreeGroups(), 1000), 1);
        Accept(region, new UpdateRecoveryPlan("p1", null, [Group("app1"), Group("db1", "db2")], 2000), 1);
        Accept(region, new UpdateRecoveryPlan("p1", "tier 2", [Group("app1"), Group("db1", "db2")], 3000), 1);
        region.Tell(new UpdateRecoveryPlan("p1", null, [Group("a"), Group("a")], 4000));
        var rejected = Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait));
        Assert.Contains("UpdateRecoveryPlan.Groups[1].Machines[0]", rejected.Message);

        AwaitAssert(() => Assert.Equal([new RecoveryPlanListing("p1", "vault-a")],
            Query<RecoveryPlanList>(directory, ListRecoveryPlans.Instance).Plans), Wait);

        // Restart from the journal: snapshot at 2 + replay of the tail.
        await Kill(region, "p1");
        var view = Query<RecoveryPlanView>(region, new GetRecoveryPlan("p1"));
        Assert.True(view.Exists);
        Assert.Equal(3, view.Version);
        Assert.Equal("tier 2", view.Description);
        Assert.Equal(["app1", "db1,db2"], view.Groups.Select(g => string.Join(",", g.Machines)));
        Assert.Equal(1000, view.CreatedUnixMs);
        Assert.Equal(3000, view.UpdatedUnixMs);

        // The recovered state still decides.
        Accept(region, new UpdateRecoveryPlan("p1", null, [Group("app1"), Group("db1", "db2")], 5000), 0);
        Accept(region, new DeleteRecoveryPlan("p1", 6000), 1);
        AwaitAssert(() => Assert.Empty(Query<RecoveryPlanList>(directory, ListRecoveryPlans.Instance).Plans), Wait);
        var deleted = Query<RecoveryPlanView>(region, new GetRecoveryPlan("p1"));
        Assert.False(deleted.Exists);
        Assert.Equal(4, deleted.Version);
    }

    [Fact]
    public async Task Directory_recovers_and_a_lost_announcement_heals_when_the_plan_starts_again()
    {
        var directory = Sys.ActorOf(RecoveryPlanDirectory.Props(Settings), "plan-directory");
        // Plans created with no directory: nothing was announced.
        var silent = Sys.ActorOf(RecoveryPlansRegion.Props(Settings, null), "silent-plans");
        Accept(silent, new CreateRecoveryPlan("p2", "vault-a", null, [Group("x")], 1), 1);
        Accept(silent, new CreateRecoveryPlan("p3", "vault-b", null, [Group("y")], 1), 1);
        Accept(silent, new CreateRecoveryPlan("p4", "vault-b", null, [Group("z")], 1), 1);
        await Kill(silent, "p2");
        await Kill(silent, "p3");
        await Kill(silent, "p4");
        Assert.Empty(Query<RecoveryPlanList>(directory, ListRecoveryPlans.Instance).Plans);

        var region = Sys.ActorOf(RecoveryPlansRegion.Props(Settings, directory), "plans");
        Query<RecoveryPlanView>(region, new GetRecoveryPlan("p3"));
        Query<RecoveryPlanView>(region, new GetRecoveryPlan("p2"));
        Accept(region, new DeleteRecoveryPlan("p4", 2), 1);
        Query<RecoveryPlanView>(region, new GetRecoveryPlan("never"));
        AwaitAssert(() => Assert.Equal([new RecoveryPlanListing("p2", "vault-a"), new RecoveryPlanListing("p3", "vault-b")],
            Query<RecoveryPlanList>(directory, ListRecoveryPlans.Instance).Plans), Wait);

        // The directory itself recovers (snapshot every 2 events + tail).
        Watch(directory);
        directory.Tell(PoisonPill.Instance);
        ExpectTerminated(directory, Wait);
        var again = Sys.ActorOf(RecoveryPlanDirectory.Props(Settings), "plan-directory-2");
        Assert.Equal(["p2", "p3"], Query<RecoveryPlanList>(again, ListRecoveryPlans.Instance).Plans.Select(p => p.PlanId));
    }
}

/// <summary>Plans recover after the whole actor system restarts on the same SQLite journal (like ProtectionRecoveryTests).</summary>
public sealed class RecoveryPlanRecoveryTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-plan-tests", Guid.NewGuid().ToString("N"));
    private static readonly EntitySettings Entities = new(3, TimeSpan.FromMinutes(5));

    [Fact]
    public async Task Plans_and_the_plan_directory_recover_after_the_actor_system_restarts()
    {
        var persistence = PersistenceSettings.Sqlite(_dir);
        var fifty = Enumerable.Range(0, 10)
            .Select(g => new BootGroup(Enumerable.Range(0, 5).Select(m => $"vm-{g}-{m}").ToArray(),
                [ManualAction($"before-{g}")], [ScriptAction($"after-{g}", $"step{g}.sh", 30)]))
            .ToArray();
        await using (var node = await ProtectionNode.StartAsync(persistence, Entities))
        {
            async Task Accept(object command, int events) =>
                Assert.Equal(new CommandResult.Accepted(events), await node.Ask<RecoveryPlansRegion, CommandResult>(command));

            await Accept(new CreateRecoveryPlan("big", "vault-a", "fifty machines", fifty, 1000), 1);
            await Accept(new CreateRecoveryPlan("small", "vault-b", null, ThreeGroups(), 1000), 1);
            await Accept(new UpdateRecoveryPlan("small", null, [Group("app1")], 2000), 1);
            await Accept(new UpdateRecoveryPlan("small", null, [Group("app1"), Group("db1")], 3000), 1);
            await Accept(new UpdateRecoveryPlan("small", null, [Group("db1"), Group("app1")], 4000), 1);
            await Accept(new CreateRecoveryPlan("gone", "vault-b", null, [Group("q")], 1000), 1);
            await Accept(new DeleteRecoveryPlan("gone", 2000), 1);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while ((await node.Ask<RecoveryPlanDirectory, RecoveryPlanList>(ListRecoveryPlans.Instance)).Plans.Count != 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "the directory did not list the two plans within 10 s");
                await Task.Delay(20);
            }
        }

        await using (var node = await ProtectionNode.StartAsync(persistence, Entities))
        {
            var list = await node.Ask<RecoveryPlanDirectory, RecoveryPlanList>(ListRecoveryPlans.Instance);
            Assert.Equal([new RecoveryPlanListing("big", "vault-a"), new RecoveryPlanListing("small", "vault-b")], list.Plans);

            var big = await node.Ask<RecoveryPlansRegion, RecoveryPlanView>(new GetRecoveryPlan("big"));
            Assert.Equal(fifty.SelectMany(g => g.Machines), big.Groups.SelectMany(g => g.Machines));
            Assert.Equal("before-9", big.Groups[9].Pre.Single().Name);
            Assert.Equal(300, big.Groups[9].Pre.Single().TimeoutSeconds);
            Assert.Equal(30, big.Groups[9].Post.Single().TimeoutSeconds);

            var small = await node.Ask<RecoveryPlansRegion, RecoveryPlanView>(new GetRecoveryPlan("small"));
            Assert.Equal(4, small.Version);
            Assert.Equal(["db1", "app1"], small.Groups.Select(g => g.Machines.Single()));
            Assert.False((await node.Ask<RecoveryPlansRegion, RecoveryPlanView>(new GetRecoveryPlan("gone"))).Exists);

            var conflict = await node.Ask<RecoveryPlansRegion, CommandResult>(new CreateRecoveryPlan("small", "vault-b", null, [Group("other")], 1));
            Assert.Equal(RejectionReason.Conflict, Assert.IsType<CommandResult.Rejected>(conflict).Reason);
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

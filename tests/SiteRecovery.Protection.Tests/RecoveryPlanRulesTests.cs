using SiteRecovery.Actors.Control.RecoveryPlan;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>One example per rule of <see cref="RecoveryPlanValidation"/> and per life-cycle rejection, each checking the named field.</summary>
public sealed class RecoveryPlanRulesTests
{
    private const string P = "plan-1";

    internal static PlanAction ManualAction(string name, string instructions = "Check the DB") => new(PlanAction.Manual, name, instructions, null, null);
    internal static PlanAction ScriptAction(string name, string script = "warm-cache.sh", int? timeout = null) => new(PlanAction.ScriptKind, name, null, script, timeout);
    internal static BootGroup Group(params string[] machines) => new(machines, [], []);

    internal static BootGroup[] ThreeGroups() =>
    [
        new(["db1", "db2"], [ManualAction("stop-writes")], [ScriptAction("check-db", "check-db.sh", 120)]),
        Group("app1"),
        new(["web1", "web2", "web3"], [], [ManualAction("smoke-test", "Open the shop page")]),
    ];

    private static CommandResult.Rejected RejectCreate(BootGroup[] groups, string vault = "vault-a", string? description = null, string planId = P)
    {
        var d = RecoveryPlanState.Empty(planId).Decide(new CreateRecoveryPlan(planId, vault, description, groups, 1));
        Assert.True(d.IsRejected, "expected a rejection");
        Assert.Empty(d.Events);
        return d.Rejection!;
    }

    private static void AssertRule(CommandResult.Rejected rejected, RecoveryPlanValidationReason reason, string fieldAndRule)
    {
        Assert.Equal(RejectionReason.InvalidArgument, rejected.Reason);
        Assert.Contains($"[{reason}]", rejected.Message);
        Assert.Contains(fieldAndRule, rejected.Message);
    }

    private static RecoveryPlanState Created(BootGroup[]? groups = null)
    {
        var s = RecoveryPlanState.Empty(P);
        var d = s.Decide(new CreateRecoveryPlan(P, "vault-a", "tier 1", groups ?? ThreeGroups(), 1000));
        Assert.False(d.IsRejected, d.Rejection?.Message);
        return d.Events.Aggregate(s, (x, e) => x.Apply(e));
    }

    [Fact]
    public void A_valid_plan_is_created_normalized_and_in_order()
    {
        var s = Created();
        Assert.True(s.Exists);
        Assert.Equal(1, s.Version);
        Assert.Equal("vault-a", s.Vault);
        Assert.Equal(["db1,db2", "app1", "web1,web2,web3"], s.Groups.Select(g => string.Join(",", g.Machines)));
        Assert.Equal(PlanAction.DefaultTimeoutSeconds, s.Groups[0].Pre[0].TimeoutSeconds);
        Assert.Equal(120, s.Groups[0].Post[0].TimeoutSeconds);
        Assert.Equal(1000, s.CreatedUnixMs);
        var view = s.ToView();
        Assert.Equal(new RecoveryPlanView(P, true, "vault-a", "tier 1", s.Groups, 1, 1000, 1000), view);
    }

    [Fact]
    public void Fifty_machines_in_ten_groups_are_accepted_with_no_cap()
    {
        var groups = Enumerable.Range(0, 10)
            .Select(g => new BootGroup(Enumerable.Range(0, 5).Select(m => $"vm-{g:D2}-{m}").ToArray(),
                [ManualAction($"before-{g}")], [ScriptAction($"after-{g}", $"step{g}.sh")]))
            .ToArray();
        var s = Created(groups);
        Assert.Equal(10, s.Groups.Count);
        Assert.Equal(50, s.Groups.Sum(g => g.Machines.Count));
        Assert.Equal(groups.SelectMany(g => g.Machines), s.Groups.SelectMany(g => g.Machines));
    }

    [Fact]
    public void Plan_id_follows_the_entity_id_rule()
    {
        AssertRule(RejectCreate(ThreeGroups(), planId: "bad id"), RecoveryPlanValidationReason.InvalidPlanId, "CreateRecoveryPlan.PlanId must be 1-64 chars");
        AssertRule(RejectCreate(ThreeGroups(), planId: "-x"), RecoveryPlanValidationReason.InvalidPlanId, "CreateRecoveryPlan.PlanId");
        AssertRule(RejectCreate(ThreeGroups(), planId: new string('p', 65)), RecoveryPlanValidationReason.InvalidPlanId, "CreateRecoveryPlan.PlanId");
    }

    [Fact]
    public void Vault_follows_the_vault_name_rule()
    {
        AssertRule(RejectCreate(ThreeGroups(), vault: "1vault"), RecoveryPlanValidationReason.InvalidVault, "CreateRecoveryPlan.Vault must be 2-50 chars");
        AssertRule(RejectCreate(ThreeGroups(), vault: ""), RecoveryPlanValidationReason.InvalidVault, "CreateRecoveryPlan.Vault");
    }

    [Fact]
    public void Description_is_at_most_1024_characters()
    {
        AssertRule(RejectCreate(ThreeGroups(), description: new string('d', 1025)), RecoveryPlanValidationReason.InvalidDescription,
            "CreateRecoveryPlan.Description must be at most 1024 characters (was 1025)");
        Assert.False(RecoveryPlanState.Empty(P).Decide(new CreateRecoveryPlan(P, "vault-a", new string('d', 1024), ThreeGroups(), 1)).IsRejected);
    }

    [Fact]
    public void At_least_one_group_and_one_machine_per_group()
    {
        AssertRule(RejectCreate([]), RecoveryPlanValidationReason.NoGroups, "CreateRecoveryPlan.Groups must hold at least 1 boot group (was 0)");
        AssertRule(RejectCreate(null!), RecoveryPlanValidationReason.NoGroups, "CreateRecoveryPlan.Groups must hold at least 1 boot group");
        AssertRule(RejectCreate([Group("a"), Group()]), RecoveryPlanValidationReason.EmptyGroup, "CreateRecoveryPlan.Groups[1].Machines must hold at least 1 machine");
        AssertRule(RejectCreate([Group("a"), new BootGroup(null!, [], [])]), RecoveryPlanValidationReason.EmptyGroup, "Groups[1].Machines must hold at least 1 machine");
        AssertRule(RejectCreate([Group("a"), null!]), RecoveryPlanValidationReason.InvalidGroup, "CreateRecoveryPlan.Groups[1] must be non-null");
    }

    [Fact]
    public void Machine_ids_are_non_blank_without_control_characters_and_at_most_128_characters()
    {
        AssertRule(RejectCreate([Group("a", " ")]), RecoveryPlanValidationReason.InvalidMachineId, "CreateRecoveryPlan.Groups[0].Machines[1] must be a non-blank machine id");
        AssertRule(RejectCreate([Group("a"), Group("b", "c", "x\ny")]), RecoveryPlanValidationReason.InvalidMachineId, "Groups[1].Machines[2] must not contain control characters");
        AssertRule(RejectCreate([Group(new string('m', 129))]), RecoveryPlanValidationReason.InvalidMachineId, "Groups[0].Machines[0] must be at most 128 characters (was 129)");
        Assert.False(RecoveryPlanState.Empty(P).Decide(new CreateRecoveryPlan(P, "vault-a", null, [Group(new string('m', 128))], 1)).IsRejected);
    }

    [Fact]
    public void A_machine_is_in_at_most_one_group()
    {
        AssertRule(RejectCreate([Group("a"), Group("b"), Group("a")]), RecoveryPlanValidationReason.DuplicateMachine,
            "CreateRecoveryPlan.Groups[2].Machines[0] 'a' is already in group 0");
        AssertRule(RejectCreate([Group("a", "a")]), RecoveryPlanValidationReason.DuplicateMachine, "Groups[0].Machines[1] 'a' appears twice in group 0");
    }

    [Fact]
    public void Action_names_are_non_blank_and_unique_within_the_plan()
    {
        AssertRule(RejectCreate([new BootGroup(["a"], [ManualAction(" ")], [])]), RecoveryPlanValidationReason.InvalidActionName,
            "CreateRecoveryPlan.Groups[0].Pre[0].Name must be non-blank");
        AssertRule(RejectCreate([new BootGroup(["a"], [ManualAction("x")], []), new BootGroup(["b"], [], [ScriptAction("x")])]),
            RecoveryPlanValidationReason.DuplicateActionName, "Groups[1].Post[0].Name 'x' is already used by CreateRecoveryPlan.Groups[0].Pre[0]");
        AssertRule(RejectCreate([new BootGroup(["a"], [ManualAction("x\u0007")], [])]), RecoveryPlanValidationReason.InvalidActionName,
            "Groups[0].Pre[0].Name must not contain control characters");
        AssertRule(RejectCreate([new BootGroup(["a"], [null!], [])]), RecoveryPlanValidationReason.InvalidAction, "Groups[0].Pre[0] must be non-null");
    }

    [Fact]
    public void Kind_is_manual_or_script()
    {
        AssertRule(RejectCreate([new BootGroup(["a"], [new PlanAction("shell", "x", "i", null, null)], [])]), RecoveryPlanValidationReason.InvalidActionKind,
            "CreateRecoveryPlan.Groups[0].Pre[0].Kind must be 'manual' or 'script' (was 'shell')");
        AssertRule(RejectCreate([new BootGroup(["a"], [new PlanAction("Manual", "x", "i", null, null)], [])]), RecoveryPlanValidationReason.InvalidActionKind, "Kind");
    }

    [Fact]
    public void A_manual_action_needs_instructions_and_no_script()
    {
        AssertRule(RejectCreate([new BootGroup(["a"], [], [ManualAction("x", " ")])]), RecoveryPlanValidationReason.MissingInstructions,
            "CreateRecoveryPlan.Groups[0].Post[0].Instructions must be non-blank for a manual action");
        AssertRule(RejectCreate([new BootGroup(["a"], [], [new PlanAction("manual", "x", "i", "s.sh", null)])]), RecoveryPlanValidationReason.InvalidScript,
            "Groups[0].Post[0].Script must be absent for a manual action");
        AssertRule(RejectCreate([new BootGroup(["a"], [], [ManualAction("x", new string('i', 4097))])]), RecoveryPlanValidationReason.InvalidInstructions,
            "Groups[0].Post[0].Instructions must be at most 4096 characters");
    }

    [Theory]
    [InlineData("../warm.sh")]
    [InlineData("/usr/bin/warm")]
    [InlineData("dir/warm.sh")]
    [InlineData("dir\\warm.sh")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("warm cache.sh")]
    [InlineData("wärm.sh")]
    public void A_script_is_a_file_name_only(string script)
    {
        AssertRule(RejectCreate([new BootGroup(["a"], [ScriptAction("x", script)], [])]), RecoveryPlanValidationReason.InvalidScript,
            $"CreateRecoveryPlan.Groups[0].Pre[0].Script must be a file name of 1-64 characters from [A-Za-z0-9._-], not '.' or '..' (no path) (was '{script}')");
    }

    [Fact]
    public void Script_name_edges()
    {
        Assert.True(RecoveryPlanValidation.IsScriptName(new string('s', 64)));
        Assert.False(RecoveryPlanValidation.IsScriptName(new string('s', 65)));
        Assert.True(RecoveryPlanValidation.IsScriptName("..hidden"));
        Assert.True(RecoveryPlanValidation.IsScriptName("a.b_c-d"));
        AssertRule(RejectCreate([new BootGroup(["a"], [new PlanAction("script", "x", null, null, null)], [])]), RecoveryPlanValidationReason.MissingScript,
            "Groups[0].Pre[0].Script must be given for a script action");
    }

    [Fact]
    public void Timeout_is_1_to_3600_seconds()
    {
        AssertRule(RejectCreate([new BootGroup(["a"], [ScriptAction("x", timeout: 0)], [])]), RecoveryPlanValidationReason.InvalidTimeout,
            "CreateRecoveryPlan.Groups[0].Pre[0].TimeoutSeconds must be 1..3600 (was 0)");
        AssertRule(RejectCreate([new BootGroup(["a"], [ScriptAction("x", timeout: 3601)], [])]), RecoveryPlanValidationReason.InvalidTimeout, "(was 3601)");
        Assert.False(RecoveryPlanState.Empty(P).Decide(new CreateRecoveryPlan(P, "vault-a", null,
            [new BootGroup(["a"], [ScriptAction("x", timeout: 1)], [ScriptAction("y", timeout: 3600)])], 1)).IsRejected);
    }

    [Fact]
    public void Every_broken_rule_is_listed()
    {
        var r = RejectCreate([new BootGroup(["a", ""], [new PlanAction("shell", " ", null, null, 0)], []), Group("a")], vault: "-");
        foreach (var reason in new[]
                 {
                     RecoveryPlanValidationReason.InvalidVault, RecoveryPlanValidationReason.InvalidMachineId, RecoveryPlanValidationReason.DuplicateMachine,
                     RecoveryPlanValidationReason.InvalidActionName, RecoveryPlanValidationReason.InvalidActionKind, RecoveryPlanValidationReason.InvalidTimeout,
                 })
            Assert.Contains($"[{reason}]", r.Message);
    }

    [Fact]
    public void Create_again_is_a_no_op_with_the_same_content_and_a_conflict_otherwise()
    {
        var s = Created();
        Assert.Empty(s.Decide(new CreateRecoveryPlan(P, "vault-a", "tier 1", ThreeGroups(), 5000)).Events);
        Assert.False(s.Decide(new CreateRecoveryPlan(P, "vault-a", "tier 1", ThreeGroups(), 5000)).IsRejected);
        var other = s.Decide(new CreateRecoveryPlan(P, "vault-a", "tier 1", [Group("x")], 5000));
        Assert.Equal(RejectionReason.Conflict, other.Rejection?.Reason);
        Assert.Contains("CreateRecoveryPlan.PlanId 'plan-1' already exists", other.Rejection!.Message);
        Assert.Equal(RejectionReason.Conflict, s.Decide(new CreateRecoveryPlan(P, "vault-b", "tier 1", ThreeGroups(), 1)).Rejection?.Reason);
    }

    [Fact]
    public void Update_replaces_the_groups_and_bumps_the_version()
    {
        var s = Created();
        var d = s.Decide(new UpdateRecoveryPlan(P, null, [Group("app1"), Group("db1")], 2000));
        var after = d.Events.Aggregate(s, (x, e) => x.Apply(e));
        Assert.Equal(2, after.Version);
        Assert.Equal(["app1", "db1"], after.Groups.Select(g => g.Machines.Single()));
        Assert.Equal("tier 1", after.Description);
        Assert.Equal(1000, after.CreatedUnixMs);
        Assert.Equal(2000, after.UpdatedUnixMs);
        Assert.Empty(after.Decide(new UpdateRecoveryPlan(P, null, [Group("app1"), Group("db1")], 3000)).Events);

        var stale = after.Decide(new UpdateRecoveryPlan(P, null, [Group("x")], 3000, ExpectedVersion: 1));
        Assert.Equal(RejectionReason.Conflict, stale.Rejection?.Reason);
        Assert.Contains("UpdateRecoveryPlan.ExpectedVersion 1 does not match plan 'plan-1' at version 2", stale.Rejection!.Message);
        Assert.False(after.Decide(new UpdateRecoveryPlan(P, null, [Group("x")], 3000, ExpectedVersion: 2)).IsRejected);

        var bad = after.Decide(new UpdateRecoveryPlan(P, null, [Group("x"), Group("x")], 3000));
        AssertRule(bad.Rejection!, RecoveryPlanValidationReason.DuplicateMachine, "UpdateRecoveryPlan.Groups[1].Machines[0]");
    }

    [Fact]
    public void Commands_on_a_plan_never_created_are_NotRegistered()
    {
        var empty = RecoveryPlanState.Empty(P);
        foreach (IRecoveryPlanCommand c in new IRecoveryPlanCommand[] { new UpdateRecoveryPlan(P, null, [Group("a")], 1), new DeleteRecoveryPlan(P, 1) })
        {
            var d = empty.Decide(c);
            Assert.Equal(RejectionReason.NotRegistered, d.Rejection?.Reason);
            Assert.Contains("PlanId 'plan-1' is not an existing recovery plan", d.Rejection!.Message);
        }
    }

    [Fact]
    public void Delete_then_create_again_keeps_the_version_counting()
    {
        var s = Created();
        var deleted = s.Decide(new DeleteRecoveryPlan(P, 2000)).Events.Aggregate(s, (x, e) => x.Apply(e));
        Assert.False(deleted.Exists);
        Assert.Equal(2, deleted.Version);
        Assert.Empty(deleted.Decide(new DeleteRecoveryPlan(P, 2001)).Events);
        Assert.False(deleted.Decide(new DeleteRecoveryPlan(P, 2001)).IsRejected);
        Assert.Equal(RejectionReason.NotRegistered, deleted.Decide(new UpdateRecoveryPlan(P, null, [Group("a")], 1)).Rejection?.Reason);
        var again = deleted.Decide(new CreateRecoveryPlan(P, "vault-b", null, [Group("z")], 3000)).Events.Aggregate(deleted, (x, e) => x.Apply(e));
        Assert.True(again.Exists);
        Assert.Equal(3, again.Version);
        Assert.Equal("vault-b", again.Vault);
        Assert.Equal(3000, again.CreatedUnixMs);
    }

    [Fact]
    public void The_stored_groups_do_not_alias_the_command_lists()
    {
        var machines = new List<string> { "a" };
        var s = Created([new BootGroup(machines, [], [])]);
        machines.Add("b");
        Assert.Equal(["a"], s.Groups[0].Machines);
    }
}

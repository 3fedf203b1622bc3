using System.Text.RegularExpressions;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.RecoveryPlan;

/// <summary>
/// Rules of a recovery plan; <see cref="Validate"/> returns ALL broken rules, each naming its field
/// (<c>Groups[2].Machines[0]</c>) and the rule:
/// <list type="bullet">
/// <item>Plan id: <see cref="RegistrationRules.IdRule"/> (like other entity ids); vault: <see cref="RegistrationRules.VaultNameRule"/>.</item>
/// <item>Description optional, at most <see cref="MaxDescriptionLength"/> characters.</item>
/// <item>At least one group; every group at least one machine. No cap on the number of groups or machines.</item>
/// <item>Machine ids non-blank, no control characters, at most <see cref="MaxMachineIdLength"/> characters; a machine
/// appears in at most one group of the plan (and once in it).</item>
/// <item>Actions: see <see cref="PlanAction"/>; action names unique within the plan (ordinal).</item>
/// </list>
/// </summary>
public static partial class RecoveryPlanValidation
{
    public const int MaxMachineIdLength = 128;
    public const int MaxActionNameLength = 128;
    public const int MaxInstructionsLength = 4096;
    public const int MaxDescriptionLength = 1024;
    public const int MinTimeoutSeconds = 1;
    public const int MaxTimeoutSeconds = 3600;
    public const string ScriptRule = "a file name of 1-64 characters from [A-Za-z0-9._-], not '.' or '..' (no path)";

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex ScriptPattern();

    public static bool IsScriptName(string? name) => name is not null && name is not ("." or "..") && ScriptPattern().IsMatch(name);

    /// <summary>Every broken rule of a whole plan; <paramref name="prefix"/> (e.g. <c>CreateRecoveryPlan.</c>) starts each field.</summary>
    public static IReadOnlyList<RecoveryPlanValidationFailure> Validate(
        string? planId, string? vault, string? description, IReadOnlyList<BootGroup>? groups, string prefix)
    {
        var failures = new List<RecoveryPlanValidationFailure>();
        if (!RegistrationRules.IsId(planId))
            failures.Add(new(RecoveryPlanValidationReason.InvalidPlanId, prefix + "PlanId",
                $"{prefix}PlanId must be {RegistrationRules.IdRule} (was '{planId}')"));
        if (vault is not null && !RegistrationRules.IsVaultName(vault))
            failures.Add(new(RecoveryPlanValidationReason.InvalidVault, prefix + "Vault",
                $"{prefix}Vault must be {RegistrationRules.VaultNameRule} (was '{vault}')"));
        failures.AddRange(ValidateDescription(description, prefix));
        failures.AddRange(ValidateGroups(groups, prefix));
        return failures;
    }

    /// <summary>
    /// Rules of a drill schedule: an interval within <paramref name="minimumEvery"/>..<see cref="SetDrillSchedule.MaximumEvery"/>
    /// (null = no schedule), a time-to-live within the failover job's bounds and only with an interval.
    /// </summary>
    public static IReadOnlyList<RecoveryPlanValidationFailure> ValidateDrillSchedule(TimeSpan? every, TimeSpan? ttl, TimeSpan minimumEvery, string prefix)
    {
        var failures = new List<RecoveryPlanValidationFailure>();
        if (every is { } e && (e < minimumEvery || e > SetDrillSchedule.MaximumEvery || e <= TimeSpan.Zero))
            failures.Add(new(RecoveryPlanValidationReason.InvalidDrillInterval, prefix + "DrillEvery",
                $"{prefix}DrillEvery must be within {minimumEvery}..{SetDrillSchedule.MaximumEvery} (was {e})"));
        if (ttl is { } t)
        {
            if (every is null)
                failures.Add(new(RecoveryPlanValidationReason.InvalidDrillTtl, prefix + "DrillTtl",
                    $"{prefix}DrillTtl needs a DrillEvery (was {t} without one); send no DrillEvery and no DrillTtl to remove the schedule"));
            else if (t < TimeSpan.FromSeconds(StartFailoverJob.MinTtlSeconds) || t > TimeSpan.FromSeconds(StartFailoverJob.MaxTtlSeconds)
                     || t.Ticks % TimeSpan.TicksPerSecond != 0)
                failures.Add(new(RecoveryPlanValidationReason.InvalidDrillTtl, prefix + "DrillTtl",
                    $"{prefix}DrillTtl must be whole seconds within {StartFailoverJob.MinTtlSeconds}..{StartFailoverJob.MaxTtlSeconds} s (was {t})"));
        }
        return failures;
    }

    public static IEnumerable<RecoveryPlanValidationFailure> ValidateDescription(string? description, string prefix)
    {
        if (description is null) yield break;
        if (description.Length > MaxDescriptionLength)
            yield return new(RecoveryPlanValidationReason.InvalidDescription, prefix + "Description",
                $"{prefix}Description must be at most {MaxDescriptionLength} characters (was {description.Length})");
    }

    public static IReadOnlyList<RecoveryPlanValidationFailure> ValidateGroups(IReadOnlyList<BootGroup>? groups, string prefix)
    {
        var failures = new List<RecoveryPlanValidationFailure>();
        if (groups is null || groups.Count == 0)
        {
            failures.Add(new(RecoveryPlanValidationReason.NoGroups, prefix + "Groups", $"{prefix}Groups must hold at least 1 boot group (was {groups?.Count ?? 0})"));
            return failures;
        }

        var machineGroup = new Dictionary<string, int>(StringComparer.Ordinal);
        var actionNames = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var g = 0; g < groups.Count; g++)
        {
            var at = $"{prefix}Groups[{g}]";
            var group = groups[g];
            if (group is null)
            {
                failures.Add(new(RecoveryPlanValidationReason.InvalidGroup, at, $"{at} must be non-null"));
                continue;
            }

            var machines = group.Machines ?? [];
            if (machines.Count == 0)
                failures.Add(new(RecoveryPlanValidationReason.EmptyGroup, at + ".Machines", $"{at}.Machines must hold at least 1 machine (was 0)"));
            for (var m = 0; m < machines.Count; m++)
            {
                var field = $"{at}.Machines[{m}]";
                var id = machines[m];
                if (string.IsNullOrWhiteSpace(id))
                    failures.Add(new(RecoveryPlanValidationReason.InvalidMachineId, field, $"{field} must be a non-blank machine id"));
                else if (id.Length > MaxMachineIdLength)
                    failures.Add(new(RecoveryPlanValidationReason.InvalidMachineId, field, $"{field} must be at most {MaxMachineIdLength} characters (was {id.Length})"));
                else if (id.Any(char.IsControl))
                    failures.Add(new(RecoveryPlanValidationReason.InvalidMachineId, field, $"{field} must not contain control characters"));
                else if (!machineGroup.TryAdd(id, g))
                    failures.Add(new(RecoveryPlanValidationReason.DuplicateMachine, field,
                        machineGroup[id] == g
                            ? $"{field} '{id}' appears twice in group {g}: a machine appears at most once in a plan"
                            : $"{field} '{id}' is already in group {machineGroup[id]}: a machine appears in at most one group of a plan"));
            }

            ValidateActions(group.Pre, at + ".Pre", actionNames, failures);
            ValidateActions(group.Post, at + ".Post", actionNames, failures);
        }

        return failures;
    }

    private static void ValidateActions(
        IReadOnlyList<PlanAction>? actions, string at, Dictionary<string, string> names, List<RecoveryPlanValidationFailure> failures)
    {
        if (actions is null) return;
        for (var i = 0; i < actions.Count; i++)
        {
            var field = $"{at}[{i}]";
            var a = actions[i];
            if (a is null)
            {
                failures.Add(new(RecoveryPlanValidationReason.InvalidAction, field, $"{field} must be non-null"));
                continue;
            }

            if (string.IsNullOrWhiteSpace(a.Name))
                failures.Add(new(RecoveryPlanValidationReason.InvalidActionName, field + ".Name", $"{field}.Name must be non-blank"));
            else if (a.Name.Length > MaxActionNameLength)
                failures.Add(new(RecoveryPlanValidationReason.InvalidActionName, field + ".Name", $"{field}.Name must be at most {MaxActionNameLength} characters (was {a.Name.Length})"));
            else if (a.Name.Any(char.IsControl))
                failures.Add(new(RecoveryPlanValidationReason.InvalidActionName, field + ".Name", $"{field}.Name must not contain control characters"));
            else if (!names.TryAdd(a.Name, field))
                failures.Add(new(RecoveryPlanValidationReason.DuplicateActionName, field + ".Name",
                    $"{field}.Name '{a.Name}' is already used by {names[a.Name]}: action names are unique within a plan"));

            if (a.Instructions is { Length: > MaxInstructionsLength })
                failures.Add(new(RecoveryPlanValidationReason.InvalidInstructions, field + ".Instructions",
                    $"{field}.Instructions must be at most {MaxInstructionsLength} characters (was {a.Instructions.Length})"));

            switch (a.Kind)
            {
                case PlanAction.Manual:
                    if (string.IsNullOrWhiteSpace(a.Instructions))
                        failures.Add(new(RecoveryPlanValidationReason.MissingInstructions, field + ".Instructions",
                            $"{field}.Instructions must be non-blank for a manual action (they are shown to the operator)"));
                    if (a.Script is not null)
                        failures.Add(new(RecoveryPlanValidationReason.InvalidScript, field + ".Script", $"{field}.Script must be absent for a manual action"));
                    break;
                case PlanAction.ScriptKind:
                    if (string.IsNullOrEmpty(a.Script))
                        failures.Add(new(RecoveryPlanValidationReason.MissingScript, field + ".Script", $"{field}.Script must be given for a script action"));
                    else if (!IsScriptName(a.Script))
                        failures.Add(new(RecoveryPlanValidationReason.InvalidScript, field + ".Script", $"{field}.Script must be {ScriptRule} (was '{a.Script}')"));
                    break;
                default:
                    failures.Add(new(RecoveryPlanValidationReason.InvalidActionKind, field + ".Kind",
                        $"{field}.Kind must be '{PlanAction.Manual}' or '{PlanAction.ScriptKind}' (was '{a.Kind}')"));
                    break;
            }

            if (a.TimeoutSeconds is { } t && t is < MinTimeoutSeconds or > MaxTimeoutSeconds)
                failures.Add(new(RecoveryPlanValidationReason.InvalidTimeout, field + ".TimeoutSeconds",
                    $"{field}.TimeoutSeconds must be {MinTimeoutSeconds}..{MaxTimeoutSeconds} (was {t})"));
        }
    }

    /// <summary>
    /// The stored form of valid groups: copied lists (no aliasing of the caller's), null action lists as empty,
    /// every timeout filled in (<see cref="PlanAction.DefaultTimeoutSeconds"/>).
    /// </summary>
    public static IReadOnlyList<BootGroup> Normalize(IReadOnlyList<BootGroup> groups) =>
        groups.Select(g => new BootGroup(
            g.Machines.ToList(),
            (g.Pre ?? []).Select(NormalizeAction).ToList(),
            (g.Post ?? []).Select(NormalizeAction).ToList())).ToList();

    private static PlanAction NormalizeAction(PlanAction a) => a with { TimeoutSeconds = a.TimeoutSeconds ?? PlanAction.DefaultTimeoutSeconds };

    /// <summary>One line listing all failures, e.g. for a rejection message.</summary>
    public static string Describe(IReadOnlyList<RecoveryPlanValidationFailure> failures) =>
        $"{failures.Count} validation failure(s): " + string.Join("; ", failures.Select(f => $"[{f.Reason}] {f.Message}"));

    public static bool SameGroups(IReadOnlyList<BootGroup> a, IReadOnlyList<BootGroup> b) => a.SequenceEqual(b);
}

using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectedMachine;

/// <summary>
/// Immutable state of one machine with pure <see cref="Decide"/> and <see cref="Apply"/>. Every command is first
/// checked against <see cref="ProtectionTransitions.Table"/>; pairs not in the table are rejected with InvalidState.
/// </summary>
[Manifest("protected-machine-state.v1")]
public sealed record ProtectedMachineState(
    string MachineId,
    ProtectionState State,
    MachineProperties? Properties,
    PlacementDecision? Placement,
    string? LastAbortReason)
    : IControlSnapshot, IAggregateState<ProtectedMachineState, IProtectedMachineCommand, IProtectedMachineEvent>
{
    public static ProtectedMachineState Empty(string machineId) => new(machineId, ProtectionState.NotDiscovered, null, null, null);

    public Decision<IProtectedMachineEvent> Decide(IProtectedMachineCommand command)
    {
        var name = command.GetType().Name;
        if (State == ProtectionState.NotDiscovered && command is not DiscoverMachine)
            return Decision<IProtectedMachineEvent>.Reject(RejectionReason.NotRegistered,
                $"{name}.MachineId '{command.MachineId}' is not a discovered machine; send DiscoverMachine first");

        if (!ProtectionTransitions.TryGet(State, command.GetType(), out _))
            return Decision<IProtectedMachineEvent>.Reject(RejectionReason.InvalidState,
                $"{name} is not allowed for machine '{MachineId}' in state {State} (allowed in {State}: {string.Join(", ", ProtectionTransitions.AllowedIn(State).DefaultIfEmpty("nothing"))})");

        return command switch
        {
            DiscoverMachine c => DecideDiscover(c),
            EnableProtection c => DecideEnable(c),
            AbortEnabling c => Rules.Blank(c.Reason)
                ? Invalid(Rules.MustBeNonEmpty(nameof(AbortEnabling), nameof(c.Reason)))
                : Accept(new ProtectionEnablingAborted(MachineId, c.Reason)),
            StartInitialReplication => Accept(new InitialReplicationStarted(MachineId)),
            CompleteInitialReplication => Accept(new InitialReplicationCompleted(MachineId)),
            StartFailover => Accept(new FailoverStarted(MachineId)),
            CompleteFailover => Accept(new FailoverCompleted(MachineId)),
            StartReprotect => Accept(new ReprotectStarted(MachineId)),
            CompleteReprotect => Accept(new ReprotectCompleted(MachineId)),
            DisableProtection => Accept(new ProtectionDisablingStarted(MachineId)),
            CompleteDisable => Accept(new ProtectionDisabled(MachineId)),
            ChangeFailoverProperties c => DecideChangeFailover(c),
            _ => Invalid($"Command type {name} is not handled by ProtectedMachine"),
        };
    }

    private Decision<IProtectedMachineEvent> DecideDiscover(DiscoverMachine c)
    {
        const string cmd = nameof(DiscoverMachine);
        if (Rules.Blank(c.MachineId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.MachineId)));
        if (c.Properties is null) return Invalid($"{cmd}.Properties must be non-null");
        if (Rules.Blank(c.Properties.Name)) return Invalid(Rules.MustBeNonEmpty(cmd, "Properties.Name"));
        if (c.Properties.Disks is null || c.Properties.Disks.Any(d => d is null))
            return Invalid($"{cmd}.Properties.Disks must be a non-null list of non-null disks");

        return State == ProtectionState.Discovered && Properties is not null && SameProperties(Properties, c.Properties)
            ? Decision<IProtectedMachineEvent>.NoOp
            : Accept(new MachineDiscovered(MachineId, c.Properties with { Disks = c.Properties.Disks.ToList() }));
    }

    private Decision<IProtectedMachineEvent> DecideEnable(EnableProtection c)
    {
        const string cmd = nameof(EnableProtection);
        var failures = MachineValidation.Validate(Properties);
        if (failures.Count > 0)
            return Invalid($"{cmd} rejected for machine '{MachineId}': {MachineValidation.Describe(failures)}");
        if (c.Placement is null) return Invalid($"{cmd}.Placement must be non-null");
        if (Rules.Blank(c.Placement.MasterTargetId)) return Invalid(Rules.MustBeNonEmpty(cmd, "Placement.MasterTargetId"));
        if (Rules.Blank(c.Placement.ProcessServerId)) return Invalid(Rules.MustBeNonEmpty(cmd, "Placement.ProcessServerId"));
        return Accept(new ProtectionEnablingStarted(MachineId, c.Placement));
    }

    private Decision<IProtectedMachineEvent> DecideChangeFailover(ChangeFailoverProperties c)
    {
        const string cmd = nameof(ChangeFailoverProperties);
        var failures = new List<ValidationFailure>(MachineValidation.ValidateFailoverSettings(c.FailoverName, c.FailoverVmSize, c.FailoverNetwork, cmd + "."));
        if (c.StaticAddress is { Length: > 0 } address) failures.AddRange(MachineValidation.ValidateStaticAddress(address, cmd + ".StaticAddress"));
        if (c.Local is not null) failures.AddRange(MachineValidation.ValidateLocal(c.Local, cmd + ".Local"));
        if (failures.Count > 0) return Invalid($"{cmd} rejected for machine '{MachineId}': {MachineValidation.Describe(failures)}");
        var p = Properties!;

        // The original shape (no static address, no local settings) keeps persisting the v1 event.
        if (c.StaticAddress is null && c.Local is null)
        {
            return p.FailoverName == c.FailoverName && p.FailoverVmSize == c.FailoverVmSize && p.FailoverNetwork == c.FailoverNetwork
                ? Decision<IProtectedMachineEvent>.NoOp
                : Accept(new FailoverPropertiesChanged(MachineId, c.FailoverName, c.FailoverVmSize, c.FailoverNetwork));
        }

        var staticAddress = c.StaticAddress switch { null => p.StaticAddress, "" => null, var a => a };
        var local = c.Local ?? p.Local;
        var after = p with
        {
            FailoverName = c.FailoverName, FailoverVmSize = c.FailoverVmSize, FailoverNetwork = c.FailoverNetwork,
            StaticAddress = staticAddress, Local = local,
        };
        return after == p
            ? Decision<IProtectedMachineEvent>.NoOp
            : Accept(new FailoverPropertiesChangedV2(MachineId, c.FailoverName, c.FailoverVmSize, c.FailoverNetwork, staticAddress, local));
    }

    public ProtectedMachineState Apply(IProtectedMachineEvent @event) => @event switch
    {
        MachineDiscovered e => this with { State = ProtectionState.Discovered, Properties = e.Properties, Placement = null },
        ProtectionEnablingStarted e => this with { State = ProtectionState.Enabling, Placement = e.Placement, LastAbortReason = null },
        ProtectionEnablingAborted e => this with { State = ProtectionState.Discovered, Placement = null, LastAbortReason = e.Reason },
        InitialReplicationStarted => this with { State = ProtectionState.InitialReplication },
        InitialReplicationCompleted => this with { State = ProtectionState.Protected },
        FailoverStarted => this with { State = ProtectionState.FailoverInProgress },
        FailoverCompleted => this with { State = ProtectionState.FailedOver },
        ReprotectStarted => this with { State = ProtectionState.ReprotectInProgress },
        ReprotectCompleted => this with { State = ProtectionState.Protected },
        ProtectionDisablingStarted => this with { State = ProtectionState.Disabling },
        ProtectionDisabled => this with { State = ProtectionState.Disabled },
        FailoverPropertiesChanged e => this with
        {
            Properties = Properties! with { FailoverName = e.FailoverName, FailoverVmSize = e.FailoverVmSize, FailoverNetwork = e.FailoverNetwork },
        },
        FailoverPropertiesChangedV2 e => this with
        {
            Properties = Properties! with
            {
                FailoverName = e.FailoverName, FailoverVmSize = e.FailoverVmSize, FailoverNetwork = e.FailoverNetwork,
                StaticAddress = e.StaticAddress, Local = e.Local ?? LocalComputeSettings.Default,
            },
        },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown ProtectedMachine event"),
    };

    public ProtectedMachineView ToView() => new(MachineId, State, Properties, Placement, LastAbortReason);

    public static bool SameProperties(MachineProperties a, MachineProperties b) => a == b;

    private static Decision<IProtectedMachineEvent> Accept(IProtectedMachineEvent e) => Decision<IProtectedMachineEvent>.Accept(e);

    private static Decision<IProtectedMachineEvent> Invalid(string message) =>
        Decision<IProtectedMachineEvent>.Reject(RejectionReason.InvalidArgument, message);
}

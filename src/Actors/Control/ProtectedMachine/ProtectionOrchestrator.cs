using Akka.Actor;
using SiteRecovery.Actors.Placement;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectedMachine;

/// <summary>
/// Enables protection of one machine at a time (requests are handled one after another, so two placements never
/// race for the same slots): reads the machine, validates it, reads the candidate master targets / process servers,
/// runs <see cref="Placement.Placement.Place"/>, then EnableProtection → AttachReplica per disk →
/// AssignDiskToProcessServer per disk → StartInitialReplication. When placement fails nothing is sent and the
/// machine stays Discovered; when a later step fails, attached replicas are detached and the machine is sent
/// AbortEnabling (back to Discovered).
/// <para>Only master targets whose TargetOs matches the machine's OS are candidates. Churn reserved on each process
/// server is kept in memory by this actor (ProcessServer has no churn-reservation event yet), so it restarts at 0.</para>
/// </summary>
public sealed class ProtectionOrchestrator : ReceiveActor
{
    private readonly IActorRef _machines;
    private readonly IActorRef _masterTargets;
    private readonly IActorRef _processServers;
    private readonly TimeSpan _askTimeout;
    private readonly Dictionary<string, double> _reservedChurnMBps = new(StringComparer.Ordinal);

    public ProtectionOrchestrator(IActorRef machines, IActorRef masterTargets, IActorRef processServers, TimeSpan askTimeout)
    {
        _machines = machines;
        _masterTargets = masterTargets;
        _processServers = processServers;
        _askTimeout = askTimeout;

        ReceiveAsync<EnableMachineProtection>(async request =>
        {
            var replyTo = Sender;
            EnableMachineProtectionResult result;
            try
            {
                result = await Enable(request);
            }
            catch (Exception ex) when (ex is AskTimeoutException or InvalidCastException or TaskCanceledException)
            {
                result = new EnableMachineProtectionResult.Failed(request.MachineId, null,
                    $"enabling protection of machine '{request.MachineId}' failed: {ex.GetType().Name}: {ex.Message}");
            }

            replyTo.Tell(result);
        });
    }

    public static Props Props(IActorRef machines, IActorRef masterTargets, IActorRef processServers, TimeSpan? askTimeout = null) =>
        Akka.Actor.Props.Create(() => new ProtectionOrchestrator(machines, masterTargets, processServers, askTimeout ?? TimeSpan.FromSeconds(10)));

    private async Task<EnableMachineProtectionResult> Enable(EnableMachineProtection r)
    {
        const string cmd = nameof(EnableMachineProtection);
        EnableMachineProtectionResult.Failed Fail(RejectionReason? reason, string message) => new(r.MachineId, reason, message);

        if (string.IsNullOrWhiteSpace(r.MachineId)) return Fail(RejectionReason.InvalidArgument, $"{cmd}.MachineId must be non-empty");
        if (double.IsNaN(r.ChurnEstimateMBps) || r.ChurnEstimateMBps < 0)
            return Fail(RejectionReason.InvalidArgument, $"{cmd}.ChurnEstimateMBps must be >= 0 (was {r.ChurnEstimateMBps})");
        if (r.MasterTargetIds is null || r.ProcessServerIds is null)
            return Fail(RejectionReason.InvalidArgument, $"{cmd}.MasterTargetIds and ProcessServerIds must be non-null");

        var machine = await _machines.Ask<ProtectedMachineView>(new GetProtectedMachine(r.MachineId), _askTimeout);
        if (machine.State == ProtectionState.NotDiscovered)
            return Fail(RejectionReason.NotRegistered, $"{cmd}.MachineId '{r.MachineId}' is not a discovered machine; send DiscoverMachine first");
        if (machine.State != ProtectionState.Discovered)
            return Fail(RejectionReason.InvalidState, $"EnableProtection is not allowed for machine '{r.MachineId}' in state {machine.State} (needs Discovered)");

        var failures = MachineValidation.Validate(machine.Properties);
        if (failures.Count > 0)
            return Fail(RejectionReason.InvalidArgument, $"EnableProtection rejected for machine '{r.MachineId}': {MachineValidation.Describe(failures)}");
        var properties = machine.Properties!;

        var mtViews = await Task.WhenAll(r.MasterTargetIds.Distinct(StringComparer.Ordinal)
            .Select(id => _masterTargets.Ask<MasterTargetView>(new GetMasterTarget(id), _askTimeout)));
        var psViews = await Task.WhenAll(r.ProcessServerIds.Distinct(StringComparer.Ordinal)
            .Select(id => _processServers.Ask<ProcessServerView>(new GetProcessServer(id), _askTimeout)));

        var os = properties.Os == GuestOs.Windows ? TargetOs.Windows : TargetOs.Linux;
        var masterTargets = mtViews.Where(v => v.Registered && v.TargetOs == os)
            .Select(v => new MasterTargetCandidate(v.ServerId, v.FreeSlots)).ToList();
        var processServers = psViews.Where(v => v.Registered)
            .Select(v => new ProcessServerCandidate(v.ServerId, v.ChurnCapacityMBps - _reservedChurnMBps.GetValueOrDefault(v.ServerId)))
            .ToList();

        var placement = Placement.Placement.Place(properties.Disks, masterTargets, processServers, r.ChurnEstimateMBps);
        if (placement is PlacementResult.Failed failed)
        {
            var reason = failed.Failure.NeedsMasterTarget ? RejectionReason.OutOfSlots : (RejectionReason?)null;
            return Fail(reason, $"cannot place machine '{r.MachineId}' ({properties.Disks.Count} disks, {os} master targets only): {failed.Failure.Message}");
        }

        var decision = ((PlacementResult.Placed)placement).Decision;
        if (await Send(_machines, new EnableProtection(r.MachineId, decision)) is CommandResult.Rejected enableRejected)
            return Fail(enableRejected.Reason, enableRejected.Message);

        var attached = new List<string>();
        foreach (var disk in properties.Disks)
        {
            var step = await Send(_masterTargets, new AttachReplica(decision.MasterTargetId, disk.DiskId, $"{r.MachineId}/{disk.DiskId}"));
            if (step is CommandResult.Rejected rejected)
                return await Abort(r.MachineId, decision, attached, $"AttachReplica of disk '{disk.DiskId}' on master target '{decision.MasterTargetId}' was rejected ({rejected.Reason}): {rejected.Message}", rejected.Reason);
            attached.Add(disk.DiskId);
        }

        foreach (var disk in properties.Disks)
        {
            var step = await Send(_processServers, new AssignDiskToProcessServer(decision.ProcessServerId, disk.DiskId));
            if (step is CommandResult.Rejected rejected)
                return await Abort(r.MachineId, decision, attached, $"AssignDiskToProcessServer of disk '{disk.DiskId}' on process server '{decision.ProcessServerId}' was rejected ({rejected.Reason}): {rejected.Message}", rejected.Reason);
        }

        if (await Send(_machines, new StartInitialReplication(r.MachineId)) is CommandResult.Rejected startRejected)
            return Fail(startRejected.Reason, startRejected.Message);

        _reservedChurnMBps[decision.ProcessServerId] = _reservedChurnMBps.GetValueOrDefault(decision.ProcessServerId) + r.ChurnEstimateMBps;
        return new EnableMachineProtectionResult.Enabled(r.MachineId, decision);
    }

    private async Task<EnableMachineProtectionResult> Abort(string machineId, PlacementDecision decision, List<string> attached, string message, RejectionReason reason)
    {
        foreach (var diskId in attached)
            await Send(_masterTargets, new DetachReplica(decision.MasterTargetId, diskId));
        await Send(_machines, new AbortEnabling(machineId, message));
        return new EnableMachineProtectionResult.Failed(machineId, reason, message);
    }

    private Task<CommandResult> Send(IActorRef region, object command) => region.Ask<CommandResult>(command, _askTimeout);
}

using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProcessServer;

/// <summary>Immutable state of one process server with pure <see cref="Decide"/> and <see cref="Apply"/>.</summary>
[Manifest("process-server-state.v1")]
public sealed record ProcessServerState(
    string ServerId,
    bool Registered,
    string? CacheDirectory,
    long CacheBytes,
    int ChurnCapacityMBps,
    ImmutableSortedSet<string> AssignedDisks,
    long CacheUsedBytes)
    : IControlSnapshot, IAggregateState<ProcessServerState, IProcessServerCommand, IProcessServerEvent>
{
    public static ProcessServerState Empty(string serverId) =>
        new(serverId, false, null, 0, 0, ImmutableSortedSet.Create<string>(StringComparer.Ordinal), 0);

    public Decision<IProcessServerEvent> Decide(IProcessServerCommand command)
    {
        if (!Registered && command is not RegisterProcessServer)
            return Decision<IProcessServerEvent>.Reject(RejectionReason.NotRegistered,
                $"{command.GetType().Name}.ServerId '{command.ServerId}' is not a registered process server; send RegisterProcessServer first");

        return command switch
        {
            RegisterProcessServer c => DecideRegister(c),
            AssignDiskToProcessServer c => DecideAssign(c),
            ReportCacheUsage c => DecideUsage(c),
            _ => Invalid($"Command type {command.GetType().Name} is not handled by ProcessServer"),
        };
    }

    private Decision<IProcessServerEvent> DecideRegister(RegisterProcessServer c)
    {
        const string cmd = nameof(RegisterProcessServer);
        if (Rules.Blank(c.ServerId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.ServerId)));
        if (Rules.Blank(c.CacheDirectory)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.CacheDirectory)));
        if (c.CacheBytes <= 0) return Invalid(Rules.MustBePositive(cmd, nameof(c.CacheBytes), c.CacheBytes));
        if (c.ChurnCapacityMBps <= 0) return Invalid(Rules.MustBePositive(cmd, nameof(c.ChurnCapacityMBps), c.ChurnCapacityMBps));

        if (Registered)
        {
            return CacheDirectory == c.CacheDirectory && CacheBytes == c.CacheBytes && ChurnCapacityMBps == c.ChurnCapacityMBps
                ? Decision<IProcessServerEvent>.NoOp
                : Decision<IProcessServerEvent>.Reject(RejectionReason.AlreadyRegistered,
                    $"{cmd}.ServerId '{c.ServerId}' is already registered with different CacheDirectory/CacheBytes/ChurnCapacityMBps");
        }

        return Decision<IProcessServerEvent>.Accept(
            new ProcessServerRegistered(c.ServerId, c.CacheDirectory, c.CacheBytes, c.ChurnCapacityMBps));
    }

    private Decision<IProcessServerEvent> DecideAssign(AssignDiskToProcessServer c)
    {
        if (Rules.Blank(c.DiskId)) return Invalid(Rules.MustBeNonEmpty(nameof(AssignDiskToProcessServer), nameof(c.DiskId)));
        return AssignedDisks.Contains(c.DiskId)
            ? Decision<IProcessServerEvent>.NoOp
            : Decision<IProcessServerEvent>.Accept(new DiskAssignedToProcessServer(c.ServerId, c.DiskId));
    }

    private Decision<IProcessServerEvent> DecideUsage(ReportCacheUsage c)
    {
        const string cmd = nameof(ReportCacheUsage);
        if (c.UsedBytes < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.UsedBytes), c.UsedBytes));
        if (c.UsedBytes > CacheBytes)
            return Invalid($"{cmd}.UsedBytes must be <= CacheBytes {CacheBytes} (was {c.UsedBytes})");
        return c.UsedBytes == CacheUsedBytes
            ? Decision<IProcessServerEvent>.NoOp
            : Decision<IProcessServerEvent>.Accept(new CacheUsageReported(c.ServerId, c.UsedBytes));
    }

    public ProcessServerState Apply(IProcessServerEvent @event) => @event switch
    {
        ProcessServerRegistered e => this with
        {
            Registered = true,
            CacheDirectory = e.CacheDirectory,
            CacheBytes = e.CacheBytes,
            ChurnCapacityMBps = e.ChurnCapacityMBps,
        },
        DiskAssignedToProcessServer e => this with { AssignedDisks = AssignedDisks.Add(e.DiskId) },
        CacheUsageReported e => this with { CacheUsedBytes = e.UsedBytes },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown ProcessServer event"),
    };

    public ProcessServerView ToView() => new(
        ServerId, Registered, CacheDirectory, CacheBytes, ChurnCapacityMBps,
        AssignedDisks.ToList(), CacheUsedBytes, Math.Max(0, CacheBytes - CacheUsedBytes));

    private static Decision<IProcessServerEvent> Invalid(string message) =>
        Decision<IProcessServerEvent>.Reject(RejectionReason.InvalidArgument, message);
}

using SiteRecovery.Connections;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// An agent connected over mutual TLS is who its certificate says (<see cref="HopAuthorization"/>): checked right after
/// its hello, before any writer binding, disk or session is touched. A refusal is logged as a security event and, for a
/// disk, reported like every writer refusal (the DiskWriterRefused alert).
/// </summary>
public sealed partial class ProcessServer
{
    /// <summary>Why <paramref name="hop"/>'s certified agent may not say <paramref name="hello"/>, or null (also null on a plain connection).</summary>
    string? CertifiedAgentProblem(HopConnection hop, Hello hello)
    {
        if (hop.Peer is not { } peer) return null;
        // The machine a cached disk was first offered for, recorded beside its spool (see MachineFile).
        if (HopAuthorization.AgentHelloProblem(peer, hello, disk => PathNames.IsOneComponent(disk) ? ReadMachine(Path.Combine(_options.CacheDirectory, disk)) : null) is not { } problem)
            return null;
        hop.ReportRefusal(problem.Detail);
        if (problem.DiskId is { } disk && PathNames.IsOneComponent(disk))
            ReportRefusal(disk, WriterOf(disk)?.Fingerprint, peer.KeySha256, WriterRefusal.NotCertified, problem.Detail);
        return problem.Detail;
    }
}

using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Connections;

/// <summary>
/// Where the configuration server placed a machine's disks, as its agent is told: the process server's component id and
/// data-path address (<c>HOST:PORT</c>). <paramref name="Placed"/> false: the machine is not protected, not placed yet, or
/// its process server's address is not known to the configuration node; <paramref name="Reason"/> says which.
/// </summary>
public sealed record AgentPlacement(string MachineId, bool Placed, string? ProcessServerId, string? ProcessServerAddress, string? MasterTargetId,
    string? State, string? Reason)
{
    public static AgentPlacement NotPlaced(string machineId, string? state, string reason) => new(machineId, false, null, null, null, state, reason);

    /// <summary>
    /// The pure answer for machine <paramref name="machineId"/> in <paramref name="view"/> (null: never discovered), with
    /// <paramref name="addressOf"/> giving the data-path address of a process server the node knows (null: unknown).
    /// A machine is placed while its state holds a placement and it replicates from this site (Enabling to Protected, and
    /// back after a reprotect); Disabling and Disabled machines are not, whatever placement they kept.
    /// </summary>
    public static AgentPlacement Of(string machineId, ProtectedMachineView? view, Func<string, string?> addressOf)
    {
        if (view is null || view.State == ProtectionState.NotDiscovered)
            return NotPlaced(machineId, ProtectionState.NotDiscovered.ToString(), $"machine {machineId} is not discovered by the configuration server");
        var state = view.State.ToString();
        if (view.State is ProtectionState.Disabling or ProtectionState.Disabled)
            return NotPlaced(machineId, state, $"machine {machineId}'s protection is {state.ToLowerInvariant()}");
        if (view.Placement is not { } placed)
            return NotPlaced(machineId, state, $"machine {machineId} is {state} and not placed: enable its protection (POST /api/machines/{machineId}/enable)");
        return addressOf(placed.ProcessServerId) is { Length: > 0 } address
            ? new AgentPlacement(machineId, true, placed.ProcessServerId, address, placed.MasterTargetId, state, null)
            : new AgentPlacement(machineId, false, placed.ProcessServerId, null, placed.MasterTargetId, state,
                $"machine {machineId} is placed on process server {placed.ProcessServerId}, whose data-path address the configuration node does not know");
    }
}

/// <summary>
/// How an agent proves, when it asks for its placement, that it holds its certificate's key: it signs the purpose, its id,
/// the machine asked for and the time (Unix ms). The time bounds a replay to <see cref="Window"/>; a replayed request
/// reads only what the captured answer already showed (a placement, nothing secret, nothing changed), so no single-use
/// nonce (and no journaled challenge per look-up) is needed.
/// </summary>
public static class PlacementProof
{
    /// <summary>How far a proof's time may be from the configuration node's clock, either way.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    public static byte[] Payload(string componentId, string machineId, long signedAtUnixMs) =>
        Encoding.UTF8.GetBytes($"siterecovery-placement-v1\n{componentId}\n{machineId}\n{signedAtUnixMs}");

    /// <summary>Null when a proof made at <paramref name="signedAtUnixMs"/> is fresh at <paramref name="nowUnixMs"/>; else why not.</summary>
    public static string? Stale(long signedAtUnixMs, long nowUnixMs) =>
        Math.Abs(nowUnixMs - signedAtUnixMs) <= (long)Window.TotalMilliseconds ? null
            : $"the proof was signed at {DateTimeOffset.FromUnixTimeMilliseconds(signedAtUnixMs):u}, more than {Window.TotalMinutes:0} minutes from the configuration node's clock ({DateTimeOffset.FromUnixTimeMilliseconds(nowUnixMs):u})";

    /// <summary>
    /// Asks the configuration node of <paramref name="enrollment"/> where machine <paramref name="machineId"/>'s disks are
    /// placed, proving the certificate in <paramref name="directory"/> with <paramref name="key"/>. A refusal (another
    /// machine's placement, a revoked certificate) throws <see cref="InvalidOperationException"/> with the node's reason; an
    /// API that cannot be reached, <see cref="HttpRequestException"/>.
    /// </summary>
    public static async Task<AgentPlacement> AskAsync(HttpClient http, EnrollmentRecord enrollment, string machineId, WriterIdentity key, string directory, CancellationToken ct)
    {
        var certificatePem = await File.ReadAllTextAsync(Path.Combine(directory, EnrollmentCertificates.CertificateFileName), ct).ConfigureAwait(false);
        var signedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var signature = Convert.ToBase64String(key.Sign(Payload(enrollment.ComponentId, machineId, signedAt)));
        using var response = await http.PostAsJsonAsync($"api/machines/{Uri.EscapeDataString(machineId)}/placement",
            new { componentId = enrollment.ComponentId, certificatePem, signedAtUnixMs = signedAt, signature }, ct).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        var node = text.Length > 0 ? JsonNode.Parse(text) : null;
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"placement of machine {machineId} refused by {http.BaseAddress} (HTTP {(int)response.StatusCode}): {node?["error"]?.GetValue<string>() ?? text}");
        return System.Text.Json.JsonSerializer.Deserialize<AgentPlacement>(text, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))
               ?? throw new InvalidDataException($"placement of machine {machineId}: {http.BaseAddress} answered nothing");
    }
}

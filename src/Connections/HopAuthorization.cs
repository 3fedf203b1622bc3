using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// What a certified agent may say in its hello, pure so every check is tested straight (the source is checked for every
/// hop in <see cref="SessionHandshake.AcceptAsync"/>): its writer identity IS its certified identity, so the hello must be
/// signed with the certificate's key; and it sends only for its own machine, so every disk it offers must be offered for
/// the certificate's id and not be recorded at the process server as another machine's.
/// </summary>
public static class HopAuthorization
{
    /// <summary>The disk a refusal concerns (null: the whole hello) and why, or null when the hello is the certified agent's own.</summary>
    public static (string? DiskId, string Detail)? AgentHelloProblem(HopPeer peer, Hello hello, Func<string, string?> recordedMachine)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(hello);
        var key = hello.Writer?.PublicKey is { } k && TryFromBase64(k) is { } der ? HelloSignature.Fingerprint(der) : null;
        if (key != peer.KeySha256)
            return (hello.Disks.FirstOrDefault()?.DiskId, $"agent {hello.SourceId}: the hello is signed with writer {(key is null ? "(none)" : HelloSignature.Short(key))}, not the certified key {HelloSignature.Short(peer.KeySha256)} ({HopRefusal.NotTheCertifiedComponent})");
        foreach (var offer in hello.Disks)
        {
            var machine = offer.MachineId ?? hello.SourceId;
            if (machine != peer.Id)
                return (offer.DiskId, $"disk {offer.DiskId} is offered for machine {machine}, but the certificate is for {peer} ({HopRefusal.NotTheCertifiedComponent})");
            if (recordedMachine(offer.DiskId) is { } recorded && recorded != peer.Id)
                return (offer.DiskId, $"disk {offer.DiskId} is machine {recorded}'s, not {peer}'s ({HopRefusal.NotTheCertifiedComponent})");
        }
        return null;
    }

    static byte[]? TryFromBase64(string text)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out var n) ? buffer[..n] : null;
    }
}

using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// The writer's proof on a <see cref="Hello"/>: an ECDSA P-256 signature (SHA-256, IEEE P1363) over a canonical
/// encoding of what the hello claims (source, every disk offer in order, protocol version, epoch). A hello copied from
/// the wire and replayed therefore says the epoch it was signed with, and one changed in any field no longer verifies.
/// </summary>
public static class HelloSignature
{
    // Domain separation: these bytes are signed by nothing else the writer's key signs.
    static readonly byte[] Domain = "siterecovery.hello.v1\0"u8.ToArray();

    /// <summary>
    /// Length-prefixed fields, so no two different hellos encode the same: source, disk count, per disk (id, size,
    /// whether a machine is named, the machine), version, epoch. Integers big-endian.
    /// </summary>
    public static byte[] Canonical(Hello hello, long epoch)
    {
        using var ms = new MemoryStream();
        ms.Write(Domain);
        Text(ms, hello.SourceId);
        Int64(ms, hello.Disks.Count);
        foreach (var d in hello.Disks)
        {
            Text(ms, d.DiskId);
            Int64(ms, d.SizeBytes);
            Int64(ms, d.MachineId is null ? 0 : 1);
            Text(ms, d.MachineId ?? "");
        }
        Int64(ms, hello.Version);
        Int64(ms, epoch);
        return ms.ToArray();
    }

    static void Text(Stream s, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Int64(s, bytes.Length);
        s.Write(bytes);
    }

    static void Int64(Stream s, long value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, value);
        s.Write(b);
    }

    /// <summary>Hex of SHA-256 of the SubjectPublicKeyInfo: the writer's name in bindings, messages and alerts.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> subjectPublicKeyInfo) => Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>The first 16 hex digits of a fingerprint, as messages show it.</summary>
    public static string Short(string fingerprint) => fingerprint.Length > 16 ? fingerprint[..16] : fingerprint;

    /// <summary>
    /// The verified writer of <paramref name="hello"/> (its fingerprint and epoch), or why not: no identity, or a key or
    /// signature that does not verify. Nothing else of the hello is trusted before this answers.
    /// </summary>
    public static (VerifiedWriter? Writer, WriterRefusal? Refusal, string? Detail) Verify(Hello hello)
    {
        if (hello.Writer is not { } proof)
            return (null, WriterRefusal.NoIdentity, $"the hello of {hello.SourceId} carries no writer identity (an agent older than writer identities: upgrade it)");
        byte[] spki, signature;
        try
        {
            spki = Convert.FromBase64String(proof.PublicKey);
            signature = Convert.FromBase64String(proof.Signature);
        }
        catch (FormatException)
        {
            return (null, WriterRefusal.BadSignature, $"the hello of {hello.SourceId}: its writer key or signature is not base64");
        }
        if (proof.Epoch <= 0)
            return (null, WriterRefusal.BadSignature, $"the hello of {hello.SourceId}: epoch {proof.Epoch} is not positive");
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(spki, out var read);
            if (read != spki.Length || key.KeySize != 256)
                return (null, WriterRefusal.BadSignature, $"the hello of {hello.SourceId}: the writer key is not an ECDSA P-256 key");
            if (!key.VerifyData(Canonical(hello, proof.Epoch), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
                return (null, WriterRefusal.BadSignature, $"the hello of {hello.SourceId}: the signature does not verify against writer {Short(Fingerprint(spki))}");
        }
        catch (CryptographicException)
        {
            return (null, WriterRefusal.BadSignature, $"the hello of {hello.SourceId}: the writer key is not an ECDSA P-256 key");
        }
        return (new VerifiedWriter(Fingerprint(spki), proof.Epoch, hello.SourceId), null, null);
    }
}

/// <summary>A writer whose hello signature verified: its key's fingerprint, the epoch it offered, and its source id.</summary>
public sealed record VerifiedWriter(string Fingerprint, long Epoch, string SourceId);

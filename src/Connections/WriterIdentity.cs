using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// A writer's identity (an agent's, kept in its state directory): an ECDSA P-256 key pair made on first start, and an
/// epoch raised and made durable before every connection attempt, so any later session of this writer (a reconnect, a
/// restart, a kill -9 and start) offers a higher epoch than every earlier one and replaces it at the process server.
/// The private key is written 0600 from creation (temp file, fsync, rename, directory fsync), read back only here,
/// and never logged nor sent: the hello carries the public key and a signature.
/// </summary>
public sealed class WriterIdentity : IDisposable
{
    /// <summary>The private key (PKCS#8 PEM) in the state directory.</summary>
    public const string KeyFileName = "writer.key";
    /// <summary>The last epoch used, in the state directory.</summary>
    public const string EpochFileName = "writer.epoch";

    readonly ECDsa _key;
    readonly string? _epochPath;
    readonly object _gate = new();
    long _epoch;

    WriterIdentity(ECDsa key, string? epochPath, long epoch, string? directory = null)
    {
        Directory = directory;
        _key = key;
        _epochPath = epochPath;
        _epoch = epoch;
        PublicKey = key.ExportSubjectPublicKeyInfo();
        Fingerprint = HelloSignature.Fingerprint(PublicKey);
    }

    /// <summary>Where the key lives (and the certificate registration keeps beside it); null for a key in memory only.</summary>
    public string? Directory { get; }

    /// <summary>The public key, SubjectPublicKeyInfo DER.</summary>
    public byte[] PublicKey { get; }

    /// <summary>Hex of SHA-256 of <see cref="PublicKey"/>.</summary>
    public string Fingerprint { get; }

    /// <summary>The last epoch handed out (0 before the first).</summary>
    public long Epoch { get { lock (_gate) return _epoch; } }

    /// <summary>
    /// The identity kept in <paramref name="directory"/>: its key, made there if there is none. A key file others may
    /// read is refused by name (someone else could speak as this writer); a damaged one too (deleting it makes a new
    /// writer, which the process server refuses until the operator releases the disks' binding).
    /// </summary>
    public static WriterIdentity Open(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        var keyPath = Path.Combine(directory, KeyFileName);
        var key = ECDsa.Create();
        try
        {
            if (File.Exists(keyPath))
            {
                if (PrivateFiles.OpenToOthers(keyPath))
                    throw new InvalidDataException($"writer key '{keyPath}' may be read by others than its owner: chmod 600 it (and consider it leaked: delete it and release the disks' writer binding)");
                try { key.ImportFromPem(File.ReadAllText(keyPath)); }
                catch (Exception e) when (e is ArgumentException or CryptographicException)
                {
                    throw new InvalidDataException($"writer key '{keyPath}' is damaged ({e.GetType().Name}). Deleting it makes this agent a new writer: its disks are then refused until an operator releases their writer binding (srctl writer release)");
                }
                if (key.KeySize != 256) throw new InvalidDataException($"writer key '{keyPath}' is not an ECDSA P-256 key");
            }
            else
            {
                key.GenerateKey(ECCurve.NamedCurves.nistP256);
                PrivateFiles.WriteAtomically(keyPath, Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()), overwrite: false);
            }
            var epochPath = Path.Combine(directory, EpochFileName);
            var epoch = File.Exists(epochPath)
                ? DurableFile.Read(epochPath, "writer epoch file", b => long.Parse(Encoding.ASCII.GetString(b), NumberStyles.None, CultureInfo.InvariantCulture),
                    "Delete it: the next epoch then comes from the clock (Unix ms), above any counter this agent used unless its clock went back.")
                : 0;
            return new WriterIdentity(key, epochPath, epoch, directory);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>An identity held in memory only (a test's hand-driven peer): a new key, epochs from the clock up.</summary>
    public static WriterIdentity Ephemeral()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new WriterIdentity(key, null, 0);
    }

    /// <summary>
    /// Raises the epoch and makes it durable before returning it. The next epoch is above the last one and at least the
    /// clock in Unix ms: a counter file lost or deleted still yields epochs above the earlier sessions' (as long as the
    /// clock did not go back), and one whose clock went back still counts up from the file.
    /// </summary>
    public long NextEpoch()
    {
        lock (_gate)
        {
            var next = Math.Max(_epoch + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            if (_epochPath is not null)
                DurableFile.WriteAtomically(_epochPath, Encoding.ASCII.GetBytes(next.ToString(CultureInfo.InvariantCulture)), null, "writer-epoch");
            _epoch = next;
            return next;
        }
    }

    /// <summary><paramref name="hello"/> signed at a new epoch (<see cref="NextEpoch"/>): sign it as it is sent (its version set).</summary>
    public Hello Sign(Hello hello) => SignAt(hello, NextEpoch());

    /// <summary><paramref name="hello"/> signed at <paramref name="epoch"/> as it is (a test's replay of an old epoch).</summary>
    public Hello SignAt(Hello hello, long epoch)
    {
        var unsigned = hello with { Writer = null };
        var signature = _key.SignData(HelloSignature.Canonical(unsigned, epoch), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return unsigned with { Writer = new WriterProof(Convert.ToBase64String(PublicKey), epoch, Convert.ToBase64String(signature)) };
    }

    /// <summary>The key's signature (IEEE P1363, SHA-256) over <paramref name="message"/>: a certificate renewal's proof of possession.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message) => _key.SignData(message, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public void Dispose() => _key.Dispose();
}

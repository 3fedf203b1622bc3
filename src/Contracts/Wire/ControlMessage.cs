using System.Text.Json;
using System.Text.Json.Serialization;

namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// Control frames of the data path. Every connection is opened by the on-premises side
/// (agent to process server, process server to master target); requests for the agent
/// (bookmarks) travel back over the connection the agent opened.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(Hello), "hello")]
[JsonDerivedType(typeof(Resume), "resume")]
[JsonDerivedType(typeof(Ack), "ack")]
[JsonDerivedType(typeof(Nak), "nak")]
[JsonDerivedType(typeof(BookmarkRequest), "bookmark-request")]
[JsonDerivedType(typeof(BookmarkInserted), "bookmark-inserted")]
[JsonDerivedType(typeof(Refused), "refused")]
[JsonDerivedType(typeof(ResyncNotice), "resync")]
[JsonDerivedType(typeof(BlockHashRequest), "block-hash-request")]
[JsonDerivedType(typeof(BlockHashReply), "block-hash-reply")]
[JsonDerivedType(typeof(HoldRequest), "hold-request")]
[JsonDerivedType(typeof(Held), "held")]
[JsonDerivedType(typeof(CommitHold), "commit")]
[JsonDerivedType(typeof(AbortHold), "abort")]
[JsonDerivedType(typeof(HoldEnded), "committed")]
[JsonDerivedType(typeof(ResyncRequest), "resync-request")]
[JsonDerivedType(typeof(ResyncStarted), "resync-started")]
[JsonDerivedType(typeof(StorageFaultNotice), "storage-fault")]
[JsonDerivedType(typeof(StopForFailover), "failover-stop")]
[JsonDerivedType(typeof(StoppedForFailover), "failover-stopped")]
[JsonDerivedType(typeof(ResumeAfterFailover), "failover-resume")]
[JsonDerivedType(typeof(ResumedAfterFailover), "failover-resumed")]
public abstract record ControlMessage
{
    static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    // Reading is strict where writing need not be: a member the record declares (without a default) must be present, and
    // one it declares non-nullable must not be null, so a parsed message is whole (hello.Disks, ack.DiskId...).
    static readonly JsonSerializerOptions ParseOptions = new(Options) { RespectRequiredConstructorParameters = true, RespectNullableAnnotations = true };

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, Options);

    public static ControlMessage Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            return JsonSerializer.Deserialize<ControlMessage>(body, ParseOptions)
                   ?? throw new InvalidDataException("control frame is JSON null");
        }
        // NotSupportedException: an object without the "type" discriminator (System.Text.Json cannot make the abstract base).
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            throw new InvalidDataException($"control frame is not a known control message: {e.Message}");
        }
    }
}

/// <summary>A disk offered for replication: its id (the NBD export name), size, and the machine it belongs to.</summary>
public sealed record DiskOffer(string DiskId, long SizeBytes, string? MachineId = null);

/// <summary>
/// First frame from the connecting side: who it is, which disks it carries (none: a control-only connection), and the
/// <see cref="ProtocolVersion"/> it speaks (absent from peers older than versions: 1).
/// </summary>
/// <remarks>
/// <see cref="Writer"/>: the sender's writer identity and its proof (absent from senders older than writer identities,
/// and from hops that do not need one). A process server refuses a hello without it, or with a signature that does not
/// verify, before anything else (see SiteRecovery.Connections.HelloSignature and WriterBindingRules).
/// </remarks>
public sealed record Hello(string SourceId, IReadOnlyList<DiskOffer> Disks, int Version = 1, WriterProof? Writer = null) : ControlMessage;

/// <summary>
/// Who writes a session's disks and proof of it: <paramref name="PublicKey"/> is the writer's ECDSA P-256 public key
/// (SubjectPublicKeyInfo DER, base64), <paramref name="Epoch"/> the writer's session counter (raised and made durable
/// before every connection attempt), <paramref name="Signature"/> its signature (IEEE P1363, base64) over the canonical
/// encoding of the hello's source, disks, version and this epoch. Never a secret: the private key never leaves the writer.
/// </summary>
public sealed record WriterProof(string PublicKey, long Epoch, string Signature);

/// <summary>
/// Reply to <see cref="Hello"/>: per disk, the highest sequence already durable downstream (send from the next one), and
/// the <see cref="ProtocolVersion"/> the answering side speaks.
/// </summary>
public sealed record Resume(IReadOnlyDictionary<string, long> DurableThrough, int Version = 1) : ControlMessage;

/// <summary>Cumulative acknowledgement: every delta of the disk up to this sequence is durable at the acknowledging hop.</summary>
public sealed record Ack(string DiskId, long DurableThrough) : ControlMessage;

/// <summary>A delta was rejected (checksum mismatch, gap); the sender resends from <see cref="ResendFrom"/>.</summary>
public sealed record Nak(string DiskId, long ResendFrom, string Reason) : ControlMessage;

/// <summary>Asks the agent to insert a bookmark marker into the listed disks' streams.</summary>
public sealed record BookmarkRequest(string RequestId, string BookmarkId, IReadOnlyList<string> DiskIds) : ControlMessage;

/// <summary>The agent's answer: the marker's sequence per disk (it covers every write replied to before it).</summary>
/// <remarks><c>Retryable</c>: the refusal is temporary (<see cref="RetryableRefusal"/>).</remarks>
public sealed record BookmarkInserted(string RequestId, string BookmarkId, IReadOnlyDictionary<string, long> Sequences, string? Error, bool Retryable = false) : ControlMessage;

/// <summary>The receiving side refuses the connection or a disk; the text names why.</summary>
public sealed record Refused(string Reason) : ControlMessage;

/// <summary>A disk's resync started or finished; <see cref="Sequence"/> is the last sequence before it started, or the one that completed it.</summary>
public sealed record ResyncNotice(string DiskId, ResyncReason Reason, bool Completed, long Sequence) : ControlMessage;


/// <summary>
/// A resync asks for the replica's block hashes (XxHash3 of each block) so only differing blocks
/// travel. The master target answers only once it has applied everything through
/// <see cref="AfterSequence"/>: the hashes then describe exactly the state the resync builds on.
/// </summary>
public sealed record BlockHashRequest(string RequestId, string DiskId, long AfterSequence, int BlockSize, long Offset, int Count) : ControlMessage;

/// <summary>Hashes of <c>Count</c> blocks starting at <see cref="Offset"/> (a short last block is hashed as it is), or an error.</summary>
public sealed record BlockHashReply(string RequestId, string DiskId, long Offset, IReadOnlyList<ulong> Hashes, string? Error) : ControlMessage;

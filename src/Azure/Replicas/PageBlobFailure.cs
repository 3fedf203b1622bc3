using Azure;

namespace SiteRecovery.Azure.Replicas;

/// <summary>Why a page-blob replica operation failed for good (after the SDK's retries of transient errors).</summary>
public enum PageBlobFailureReason
{
    /// <summary>The account refused the credentials or their permissions (403, 401).</summary>
    AuthenticationFailed,
    /// <summary>The replicas' container was deleted.</summary>
    ContainerNotFound,
    /// <summary>The replica's blob was deleted under the store.</summary>
    BlobNotFound,
    /// <summary>This store's lease was broken or taken: another opener may be writing, so this one stops.</summary>
    LeaseLost,
    /// <summary>The account or blob is over a size or capacity limit.</summary>
    QuotaExceeded,
    /// <summary>Transient errors went on past the retry policy (service unavailable, timeouts, dropped connections).</summary>
    Unavailable,
    /// <summary>Any other refusal; the service's error code is in the message.</summary>
    Refused,
}

/// <summary>
/// A page-blob replica operation failed for good; names the disk, the blob, the reason and the service's error code.
/// An <see cref="IOException"/>, like a local disk's write error: the master target stops the disk at it with a named
/// reason and an alert, acknowledges nothing past it, and reopens the disk from its journal once the storage takes
/// writes again; the process server keeps its spool meanwhile.
/// </summary>
public sealed class PageBlobReplicaException(string diskId, string blob, PageBlobFailureReason reason, string detail, Exception? inner)
    : IOException($"disk {diskId}: page blob '{blob}': {reason}: {detail}", inner)
{
    public string DiskId { get; } = diskId;
    public string Blob { get; } = blob;
    public PageBlobFailureReason Reason { get; } = reason;

    /// <summary>The named failure for an exception of the SDK or of the network under it.</summary>
    public static PageBlobReplicaException From(string diskId, string blob, string operation, Exception e) => e switch
    {
        PageBlobReplicaException named => named,
        RequestFailedException r => new PageBlobReplicaException(diskId, blob, Classify(r), $"{operation} failed: HTTP {r.Status} {r.ErrorCode}", e),
        // No answer at all (refused, reset, timed out, the retries used up on such failures): the service is away, not refusing.
        AggregateException or IOException or TimeoutException or System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException
            or OperationCanceledException =>
            new PageBlobReplicaException(diskId, blob, PageBlobFailureReason.Unavailable, $"{operation} failed after the retry policy's retries: {e.GetType().Name}: {e.Message}", e),
        _ => new PageBlobReplicaException(diskId, blob, PageBlobFailureReason.Refused, $"{operation} failed: {e.GetType().Name}: {e.Message}", e),
    };

    static PageBlobFailureReason Classify(RequestFailedException r) => r.ErrorCode switch
    {
        "ContainerNotFound" or "ContainerBeingDeleted" => PageBlobFailureReason.ContainerNotFound,
        "BlobNotFound" => PageBlobFailureReason.BlobNotFound,
        "LeaseLost" or "LeaseIdMismatchWithBlobOperation" or "LeaseIdMissing" or "LeaseNotPresentWithBlobOperation" or "LeaseIdMismatchWithLeaseOperation"
            or "LeaseNotPresentWithLeaseOperation" or "LeaseIsBrokenAndCannotBeRenewed" or "LeaseAlreadyBroken" => PageBlobFailureReason.LeaseLost,
        "AuthenticationFailed" or "AuthorizationFailure" or "AuthorizationPermissionMismatch" or "InsufficientAccountPermissions" or "AccountIsDisabled"
            => PageBlobFailureReason.AuthenticationFailed,
        "AccountLimitsExceeded" or "BlobTooLarge" or "MaxBlobSizeConditionNotMet" or "SequenceNumberConditionNotMet" => PageBlobFailureReason.QuotaExceeded,
        _ => r.Status switch
        {
            401 or 403 => PageBlobFailureReason.AuthenticationFailed,
            404 => PageBlobFailureReason.BlobNotFound,
            // 0: the SDK's transport failed before any answer (a connection refused or dropped mid-request).
            0 or 408 or 429 or >= 500 => PageBlobFailureReason.Unavailable,
            _ => PageBlobFailureReason.Refused,
        },
    };
}

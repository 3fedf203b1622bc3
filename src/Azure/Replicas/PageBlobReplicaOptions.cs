namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// How a master target keeps its replicas as page blobs. Every value comes from the node's data-path HOCON
/// (<c>siterecovery.data-path.master-target.azure-page-blob</c>); nothing here is a default an operator cannot see.
/// </summary>
/// <param name="Container">The blob container of the replicas; created when missing.</param>
/// <param name="BlobPrefix">Prepended to every replica's blob name (<c>PREFIX + DISK.vhd</c>); may be empty.</param>
/// <param name="LeaseDuration">The fence: a blob lease of this length (15–60 s, Azure's range), renewed while the store is open.</param>
/// <param name="LeaseRenewInterval">How often the lease is renewed; well under <paramref name="LeaseDuration"/>.</param>
/// <param name="MaxUploadBytes">The largest UploadPages request (Azure's limit is 4 MiB); larger writes are split.</param>
/// <param name="Retry">The SDK's retry policy for transient errors.</param>
/// <param name="CoalesceWrites">Consecutive writes (and zeroes) are gathered into one request of up to
/// <paramref name="MaxUploadBytes"/>, uploaded when the next write cannot join it, a read overlaps it, or the master target
/// flushes the replica; off, every write and zero is its own request(s) at once.</param>
public sealed record PageBlobReplicaOptions(
    string Container,
    string BlobPrefix,
    TimeSpan LeaseDuration,
    TimeSpan LeaseRenewInterval,
    int MaxUploadBytes,
    PageBlobRetryOptions Retry,
    bool CoalesceWrites)
{
    /// <summary>
    /// Each recovery point of a disk is kept as a snapshot of its page blob, taken when the point's marker is applied and
    /// deleted when the point leaves the retention window (see <c>PageBlobReplicaStore.Snapshots.cs</c>). Off by default.
    /// </summary>
    public bool SnapshotPoints { get; init; }

    /// <summary>
    /// Segments (4 MiB each) of a point snapshot fetched at once ahead of a reader going through it in order (a point
    /// materialized from blob storage, an export copied whole), besides the one it waits for; 0 fetches one at a time.
    /// Each costs a request in flight and 4 MiB of memory while the read lasts. (HOCON <c>point-read-ahead</c>.)
    /// </summary>
    public int PointReadAhead { get; init; } = PointReadAheadDefault;

    /// <summary>The node's <c>point-read-ahead</c> in <c>hocon/datapath.hocon</c>, for stores made in code (tests, the bench).</summary>
    public const int PointReadAheadDefault = 4;

    /// <summary>The most <see cref="PointReadAhead"/> takes.</summary>
    public const int PointReadAheadLimit = 64;

    /// <summary>Azure's largest single UploadPages request.</summary>
    public const int UploadPagesLimit = 4 * 1024 * 1024;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first value Azure would refuse or that cannot work.</summary>
    public void Validate()
    {
        if (Container.Length is < 3 or > 63 || !Container.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            || Container.StartsWith('-') || Container.EndsWith('-') || Container.Contains("--", StringComparison.Ordinal))
            throw new ArgumentException($"container '{Container}': Azure container names are 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit");
        if (BlobPrefix.Length > 512 || BlobPrefix.Any(c => char.IsControl(c) || c == '\\'))
            throw new ArgumentException($"blob-prefix '{BlobPrefix}': at most 512 characters, no control characters or backslashes");
        if (LeaseDuration < TimeSpan.FromSeconds(15) || LeaseDuration > TimeSpan.FromSeconds(60))
            throw new ArgumentException($"lease-duration = {LeaseDuration.TotalSeconds}s: Azure leases last 15-60 s");
        if (LeaseRenewInterval <= TimeSpan.Zero || LeaseRenewInterval * 2 > LeaseDuration)
            throw new ArgumentException($"lease-renew-interval = {LeaseRenewInterval.TotalSeconds}s: must be positive and at most half of lease-duration ({LeaseDuration.TotalSeconds}s), so one failed renewal does not lose the fence");
        if (MaxUploadBytes < 512 || MaxUploadBytes > UploadPagesLimit || MaxUploadBytes % 512 != 0)
            throw new ArgumentException($"max-upload-bytes = {MaxUploadBytes}: a multiple of 512 from 512 to {UploadPagesLimit} (Azure's UploadPages limit)");
        if (PointReadAhead is < 0 or > PointReadAheadLimit)
            throw new ArgumentException($"point-read-ahead = {PointReadAhead}: a count of 4 MiB segments from 0 to {PointReadAheadLimit}");
        Retry.Validate();
    }
}

/// <summary>
/// The SDK's exponential retry for transient failures (408, 429, 500, 502, 503, 504, dropped connections, timeouts);
/// a 503's Retry-After is honoured by the SDK.
/// </summary>
/// <param name="MaxRetries">Retries after the first attempt before the error surfaces.</param>
/// <param name="Delay">The first backoff; it doubles per retry, with jitter.</param>
/// <param name="MaxDelay">The longest backoff.</param>
/// <param name="NetworkTimeout">A request with no answer after this long is abandoned and retried.</param>
public sealed record PageBlobRetryOptions(int MaxRetries, TimeSpan Delay, TimeSpan MaxDelay, TimeSpan NetworkTimeout)
{
    public void Validate()
    {
        if (MaxRetries is < 0 or > 100) throw new ArgumentException($"retry.max-retries = {MaxRetries}: 0..100");
        if (Delay <= TimeSpan.Zero || MaxDelay < Delay) throw new ArgumentException($"retry.delay = {Delay}, retry.max-delay = {MaxDelay}: positive, max-delay at least delay");
        if (NetworkTimeout <= TimeSpan.Zero) throw new ArgumentException($"retry.network-timeout = {NetworkTimeout}: must be positive");
    }
}

using System.Buffers;
using System.Runtime.InteropServices;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// The replica of one disk as an Azure page blob: the disk's bytes at the same offsets, then a 512-byte fixed-VHD footer
/// (<see cref="VhdFooter"/>), so the blob as it stands is a disk image Azure can make a managed disk of.
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Durability: a page write or clear is durable in the account when the service acknowledges it (Azure commits it
/// to its replicas before answering; there is no write cache). With <see cref="PageBlobReplicaOptions.CoalesceWrites"/>
/// a write or zero may wait in this store's one pending run (see <c>PageBlobReplicaStore.Pending.cs</c>) until it is
/// uploaded: <see cref="FlushAsync"/> uploads it before it returns, so nothing is durable, and no checkpoint of the master
/// target moves past it, before its pages are acknowledged. Pending bytes are lost with the process, as an unflushed
/// local file's are: the master target's redo from its journal rewrites them.</item>
/// <item>Order: writes, zeroes and uploads run one at a time under <see cref="_mutate"/>; at most one run is pending, and
/// it is uploaded before any request for another range is made, so requests to overlapping ranges reach the blob in the
/// order they were made. A retried request rewrites the same bytes at the same range: page writes are idempotent, so a
/// retry never reorders or duplicates anything.</item>
/// <item>Alignment: pages are 512 bytes. An unaligned write reads its edge sectors back when it is uploaded, merges the
/// new bytes in and uploads whole sectors; under the write lock, with every earlier run uploaded, nothing else changes
/// those sectors meanwhile.</item>
/// <item>Failure: an upload that fails for good stops the store: every later call throws that failure (naming it), so the
/// master target stops the disk and reopens it from its journal, never skipping the run that failed.</item>
/// <item>Fencing: the opener holds a blob lease (renewed while open); every write and clear carries the lease id, so
/// the service refuses them from anyone else. A second opener is refused with <see cref="ReplicaFencedException"/>;
/// a lost lease stops this store with <see cref="PageBlobFailureReason.LeaseLost"/>.</item>
/// </list>
/// </summary>
public sealed partial class PageBlobReplicaStore : IReplicaStore
{
    /// <summary>Azure's largest page blob (8 TiB) holds the disk and its footer: the largest disk a page-blob VHD can hold.</summary>
    public const long MaxDiskSize = (8L << 40) - VhdFooter.Length;
    const int Sector = 512;
    const string OwnerMetadataKey = "owner";

    readonly PageBlobClient _blob;
    readonly BlobLeaseClient _lease;
    readonly PageBlobRequestConditions _leased;
    readonly PageBlobReplicaOptions _options;
    readonly SemaphoreSlim _mutate = new(1, 1);
    readonly CancellationTokenSource _stop = new();
    readonly Task _renewer;
    volatile PageBlobReplicaException? _leaseLost;
    int _disposed;

    PageBlobReplicaStore(string diskId, long size, string ownerId, PageBlobClient blob, BlobLeaseClient lease, PageBlobReplicaOptions options)
    {
        DiskId = diskId;
        Size = size;
        OwnerId = ownerId;
        _blob = blob;
        _lease = lease;
        _leased = new PageBlobRequestConditions { LeaseId = lease.LeaseId };
        _options = options;
        _renewer = Task.Run(RenewLeaseAsync);
    }

    public string DiskId { get; }
    public long Size { get; }
    /// <summary>Who holds the fence (kept in the blob's metadata, so a refused opener can name it).</summary>
    public string OwnerId { get; }
    /// <summary>The blob's container and name.</summary>
    public string BlobName => $"{_blob.BlobContainerName}/{_blob.Name}";

    /// <summary>
    /// Creates the blob when missing (disk size + footer), takes the fence, then checks an existing blob's size and footer.
    /// Throws <see cref="ArgumentOutOfRangeException"/> for a size a page-blob VHD cannot hold, <see cref="ReplicaFencedException"/>
    /// when another opener holds the lease, <see cref="InvalidOperationException"/> when the blob holds a disk of another
    /// size, <see cref="InvalidDataException"/> when its footer is damaged, and <see cref="PageBlobReplicaException"/> for
    /// any refusal of the service.
    /// </summary>
    internal static async Task<PageBlobReplicaStore> OpenAsync(PageBlobClient blob, string diskId, long size, string ownerId, PageBlobReplicaOptions options, CancellationToken ct)
    {
        CheckSize(diskId, size);
        var name = $"{blob.BlobContainerName}/{blob.Name}";
        try
        {
            var create = new PageBlobCreateOptions { Conditions = new PageBlobRequestConditions { IfNoneMatch = ETag.All } };
            await blob.CreateAsync(size + VhdFooter.Length, create, ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // It exists (or a retry of our own create found it made): its size and footer are checked under the lease.
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw PageBlobReplicaException.From(diskId, name, "create", e);
        }

        // A fresh lease id per open: the same owner opening twice is refused as well.
        var lease = blob.GetBlobLeaseClient(Guid.NewGuid().ToString());
        try
        {
            await lease.AcquireAsync(options.LeaseDuration, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.ErrorCode == "LeaseAlreadyPresent" || e.Status == 409)
        {
            throw new ReplicaFencedException($"lease of page blob '{name}'", await ReadOwnerAsync(blob).ConfigureAwait(false), e);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw PageBlobReplicaException.From(diskId, name, "acquire lease", e);
        }

        var store = new PageBlobReplicaStore(diskId, size, ownerId, blob, lease, options);
        try
        {
            await store.AdoptBlobAsync(ct).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the limit unless a page-blob VHD can hold a disk of <paramref name="size"/>.</summary>
    public static void CheckSize(string diskId, long size)
    {
        if (size <= 0 || size % Sector != 0)
            throw new ArgumentOutOfRangeException(nameof(size), $"disk {diskId}: {size} bytes is not a positive multiple of 512; a page blob holds whole 512-byte pages");
        if (size > MaxDiskSize)
            throw new ArgumentOutOfRangeException(nameof(size), $"disk {diskId}: {size} bytes is over the page-blob VHD limit of {MaxDiskSize} bytes (an 8 TiB page blob less the 512-byte VHD footer)");
    }

    /// <summary>Records the owner, then checks an existing blob (or finishes a new one: its footer) under the lease.</summary>
    async Task AdoptBlobAsync(CancellationToken ct)
    {
        BlobProperties properties;
        try
        {
            await _blob.SetMetadataAsync(new Dictionary<string, string> { [OwnerMetadataKey] = OwnerId }, _leased, ct).ConfigureAwait(false);
            properties = (await _blob.GetPropertiesAsync(cancellationToken: ct).ConfigureAwait(false)).Value;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw PageBlobReplicaException.From(DiskId, BlobName, "read properties", e);
        }
        if (properties.BlobType != BlobType.Page)
            throw new InvalidOperationException($"replica blob '{BlobName}' for disk '{DiskId}' is a {properties.BlobType} blob, not a page blob");
        if (properties.ContentLength != Size + VhdFooter.Length)
            throw new InvalidOperationException($"replica blob '{BlobName}' for disk '{DiskId}' is {properties.ContentLength} bytes " +
                $"(a disk of {properties.ContentLength - VhdFooter.Length} bytes and its footer), but the disk is {Size} bytes");

        var footer = new byte[VhdFooter.Length];
        await ReadRawAsync(Size, footer, ct).ConfigureAwait(false);
        if (footer.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            // A new blob, or one whose creator stopped before its footer: the footer is written now, before any data.
            await UploadAsync(Size, VhdFooter.ForFixedDisk(Size, Guid.NewGuid(), DateTimeOffset.UtcNow).ToBytes(), ct).ConfigureAwait(false);
            return;
        }
        VhdFooter parsed;
        try { parsed = VhdFooter.Parse(footer); }
        catch (InvalidDataException e) { throw new InvalidDataException($"replica blob '{BlobName}' for disk '{DiskId}': {e.Message}; refused rather than overwritten", e); }
        if (parsed.CurrentSize != Size)
            throw new InvalidOperationException($"replica blob '{BlobName}' for disk '{DiskId}' has a VHD footer of {parsed.CurrentSize} bytes, but the disk is {Size} bytes");
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ReplicaRange.Check(DiskId, Size, offset, data.Length);
        if (data.Length == 0) return;
        await _mutate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfStopped();
            if (_options.CoalesceWrites) await BufferWriteAsync(offset, data, cancellationToken).ConfigureAwait(false);
            else await WriteLockedAsync(offset, data, cancellationToken).ConfigureAwait(false);
        }
        finally { _mutate.Release(); }
    }

    public async ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ReplicaRange.Check(DiskId, Size, offset, length);
        if (length == 0) return;
        await _mutate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfStopped();
            if (_options.CoalesceWrites) await BufferZeroAsync(offset, length, cancellationToken).ConfigureAwait(false);
            else await ZeroLockedAsync(offset, length, cancellationToken).ConfigureAwait(false);
        }
        finally { _mutate.Release(); }
    }

    /// <summary>Zeroes at once: whole pages with ClearPages, edge bytes merged into their sectors. Holds <see cref="_mutate"/>.</summary>
    async Task ZeroLockedAsync(long offset, long length, CancellationToken cancellationToken)
    {
        var end = offset + length;
        var innerStart = AlignUp(offset);
        var innerEnd = AlignDown(end);
        if (innerStart >= innerEnd)
        {
            // No whole page inside (under 1 KiB): zero bytes merged into the edge sectors.
            await WriteLockedAsync(offset, new byte[length], cancellationToken).ConfigureAwait(false);
            return;
        }
        if (offset < innerStart) await WriteLockedAsync(offset, new byte[innerStart - offset], cancellationToken).ConfigureAwait(false);
        await ClearAsync(innerStart, innerEnd - innerStart, cancellationToken).ConfigureAwait(false);
        if (innerEnd < end) await WriteLockedAsync(innerEnd, new byte[end - innerEnd], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the blob; a pending run the range overlaps is uploaded first, so a read sees every completed write.</summary>
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ReplicaRange.Check(DiskId, Size, offset, buffer.Length);
        if (buffer.Length == 0) return;
        if (PendingOverlaps(offset, buffer.Length))
        {
            await _mutate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                ThrowIfStopped();
                if (PendingOverlaps(offset, buffer.Length)) await UploadPendingAsync(cancellationToken).ConfigureAwait(false);
            }
            finally { _mutate.Release(); }
        }
        await ReadRawAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Uploads the pending run (page writes are durable once acknowledged: see the class's invariants) and reports a lost
    /// fence or an earlier failure. Covers every write and zero completed before it was called.
    /// </summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _mutate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfStopped();
            await UploadPendingAsync(cancellationToken).ConfigureAwait(false);
            ThrowIfLeaseLost();
        }
        finally { _mutate.Release(); }
    }

    /// <summary>Merges an unaligned write into its edge sectors, then uploads whole sectors. Holds <see cref="_mutate"/>.</summary>
    async Task WriteLockedAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var end = offset + data.Length;
        var start = AlignDown(offset);
        var stop = AlignUp(end);
        if (start == offset && stop == end)
        {
            await UploadAsync(offset, data, ct).ConfigureAwait(false);
            return;
        }
        var length = (int)(stop - start);
        var merged = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            if (start != offset) await ReadRawAsync(start, merged.AsMemory(0, Sector), ct).ConfigureAwait(false);
            // The tail sector, unless it is the head sector just read.
            if (stop != end && (stop - Sector != start || start == offset))
                await ReadRawAsync(stop - Sector, merged.AsMemory(length - Sector, Sector), ct).ConfigureAwait(false);
            data.CopyTo(merged.AsMemory((int)(offset - start)));
            await UploadAsync(start, merged.AsMemory(0, length), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(merged);
        }
    }

    /// <summary>UploadPages of whole sectors at an aligned offset, in requests of at most <see cref="PageBlobReplicaOptions.MaxUploadBytes"/>.</summary>
    async Task UploadAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var options = new PageBlobUploadPagesOptions { Conditions = _leased };
        byte[]? copy = null;
        if (!MemoryMarshal.TryGetArray(data, out var segment))
        {
            copy = data.ToArray();
            segment = new ArraySegment<byte>(copy);
        }
        for (var done = 0; done < segment.Count;)
        {
            ThrowIfLeaseLost();
            var n = Math.Min(segment.Count - done, _options.MaxUploadBytes);
            // A seekable stream: the SDK rewinds it to resend the same bytes when it retries.
            using var body = new MemoryStream(segment.Array!, segment.Offset + done, n, writable: false);
            try
            {
                await _blob.UploadPagesAsync(body, offset + done, options, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                throw PageBlobReplicaException.From(DiskId, BlobName, $"upload pages {offset + done}+{n}", e);
            }
            done += n;
        }
    }

    /// <summary>ClearPages of whole sectors at an aligned offset (one request: a clear carries no body).</summary>
    async Task ClearAsync(long offset, long length, CancellationToken ct)
    {
        ThrowIfLeaseLost();
        try
        {
            await _blob.ClearPagesAsync(new HttpRange(offset, length), _leased, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(DiskId, BlobName, $"clear pages {offset}+{length}", e);
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from the blob at <paramref name="offset"/> (any range of the blob, footer included).</summary>
    async Task ReadRawAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        try
        {
            var response = await _blob.DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(offset, buffer.Length) }, ct).ConfigureAwait(false);
            await using var content = response.Value.Content;
            await content.ReadExactlyAsync(buffer, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(DiskId, BlobName, $"read {offset}+{buffer.Length}", e);
        }
    }

    /// <summary>
    /// Renews the lease until the store is closed. A renewal that fails transiently is tried again at the next tick (an
    /// expired lease can still be renewed while nobody else took it); one the service refuses marks the fence lost.
    /// </summary>
    async Task RenewLeaseAsync()
    {
        using var timer = new PeriodicTimer(_options.LeaseRenewInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await _lease.RenewAsync(cancellationToken: _stop.Token).ConfigureAwait(false);
                }
                catch (RequestFailedException e) when (e.Status is 409 or 412)
                {
                    _leaseLost = PageBlobReplicaException.From(DiskId, BlobName, "renew lease", e);
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Transient and past the SDK's retries: the next tick tries again; writes meanwhile carry the lease id
                    // and the service refuses them if the lease was lost.
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    static async Task<string> ReadOwnerAsync(PageBlobClient blob)
    {
        try
        {
            var properties = await blob.GetPropertiesAsync().ConfigureAwait(false);
            return properties.Value.Metadata.TryGetValue(OwnerMetadataKey, out var owner) ? owner : "(unknown)";
        }
        catch (Exception e) when (e is RequestFailedException or IOException or System.Net.Http.HttpRequestException)
        {
            return "(unknown)";
        }
    }

    static long AlignDown(long value) => value & ~(long)(Sector - 1);
    static long AlignUp(long value) => AlignDown(value + Sector - 1);

    void ThrowIfLeaseLost()
    {
        if (_leaseLost is { } lost) throw new PageBlobReplicaException(lost.DiskId, lost.Blob, lost.Reason, "the fence was lost earlier; this store stopped writing", lost);
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Waits for a write in progress, stops renewing and releases the lease (best effort: it expires by itself).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _mutate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _renewer.ConfigureAwait(false);
            try { await _lease.ReleaseAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is RequestFailedException or IOException or System.Net.Http.HttpRequestException or OperationCanceledException)
            {
                // The lease runs out within its duration; a next opener is refused until then.
            }
        }
        finally
        {
            ReturnRunBuffer();
            _mutate.Release();
            _stop.Dispose();
        }
    }
}

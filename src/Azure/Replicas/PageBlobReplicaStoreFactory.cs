using Azure;
using Azure.Core;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// Keeps each disk's replica as the page blob <c>&lt;container&gt;/&lt;prefix&gt;&lt;diskId&gt;.vhd</c> of an account,
/// fenced to <paramref name="ownerId"/>. The container is created on first use when missing.
/// </summary>
public sealed class PageBlobReplicaStoreFactory : IReplicaStoreFactory
{
    readonly BlobContainerClient _container;
    readonly PageBlobReplicaOptions _options;
    readonly SemaphoreSlim _ensure = new(1, 1);
    bool _containerReady;

    public PageBlobReplicaStoreFactory(StorageAccount account, PageBlobReplicaOptions options, string ownerId)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentException.ThrowIfNullOrEmpty(ownerId);
        options.Validate();
        // Metadata values travel as HTTP headers: the owner id must be plain printable ASCII.
        if (ownerId.Any(c => c is < ' ' or > '~')) throw new ArgumentException($"owner id '{ownerId}' must be printable ASCII (it is stored in the blob's metadata)", nameof(ownerId));
        _options = options;
        OwnerId = ownerId;
        _container = account.Connect(ClientOptions(options.Retry)).GetBlobContainerClient(options.Container);
    }

    public string OwnerId { get; }

    /// <summary>The SDK's options with the retry policy set explicitly from the settings.</summary>
    public static BlobClientOptions ClientOptions(PageBlobRetryOptions retry)
    {
        var o = new BlobClientOptions();
        o.Retry.Mode = RetryMode.Exponential;
        o.Retry.MaxRetries = retry.MaxRetries;
        o.Retry.Delay = retry.Delay;
        o.Retry.MaxDelay = retry.MaxDelay;
        o.Retry.NetworkTimeout = retry.NetworkTimeout;
        return o;
    }

    /// <summary>The blob name of a disk's replica inside the container.</summary>
    public string BlobNameFor(string diskId)
    {
        LocalFileReplicaStoreFactory.CheckDiskId(diskId);
        return _options.BlobPrefix + diskId + ".vhd";
    }

    public async ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default)
    {
        var name = BlobNameFor(diskId);
        PageBlobReplicaStore.CheckSize(diskId, size);
        await EnsureContainerAsync(diskId, cancellationToken).ConfigureAwait(false);
        return await PageBlobReplicaStore.OpenAsync(_container.GetPageBlobClient(name), diskId, size, OwnerId, _options, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> ExistsAsync(string diskId, CancellationToken cancellationToken = default)
    {
        try { return (await _container.GetPageBlobClient(BlobNameFor(diskId)).ExistsAsync(cancellationToken).ConfigureAwait(false)).Value; }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(diskId, _options.Container, "check that the replica exists", e);
        }
    }

    async Task EnsureContainerAsync(string diskId, CancellationToken ct)
    {
        if (Volatile.Read(ref _containerReady)) return;
        await _ensure.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_containerReady) return;
            try { await _container.CreateIfNotExistsAsync(cancellationToken: ct).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                throw PageBlobReplicaException.From(diskId, _options.Container, "create the container", e);
            }
            Volatile.Write(ref _containerReady, true);
        }
        finally { _ensure.Release(); }
    }
}

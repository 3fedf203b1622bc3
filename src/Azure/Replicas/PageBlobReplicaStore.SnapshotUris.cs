using Azure.Storage.Blobs;
using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Azure.Replicas;

/// <summary>A point's snapshot by URI: the blob's own address with <c>?snapshot=</c>, never a SAS, so it may be recorded and logged.</summary>
public sealed partial class PageBlobReplicaStore : IPointSnapshotUris
{
    public Uri SnapshotUri(PointSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        // A client made from a SAS connection string carries the SAS in its URI: it is an account credential, dropped here.
        return new BlobUriBuilder(_blob.WithSnapshot(snapshot.Snapshot).Uri) { Sas = null, Query = "" }.ToUri();
    }
}

namespace SiteRecovery.Journal.Replicas;

/// <summary>
/// A store whose point snapshots (<see cref="IPointSnapshots"/>) a reader outside this node can fetch by URI: a compute
/// target that makes a disk of a point (an Azure managed disk imported from a page-blob snapshot) is handed the URI and
/// reads the snapshot itself, so the replica is never what it imports.
/// </summary>
public interface IPointSnapshotUris
{
    /// <summary>Where <paramref name="snapshot"/> is read, without credentials (the reader brings its own access to the account).</summary>
    Uri SnapshotUri(PointSnapshot snapshot);
}

using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Journal.Tests;

/// <summary>The replica conformance suite on local sparse files.</summary>
public sealed class LocalFileReplicaStoreConformanceTests : ReplicaStoreConformanceTests
{
    private readonly TempDir _dir = new();

    protected override IReplicaStoreFactory Factory(string owner) => new LocalFileReplicaStoreFactory(_dir.Sub("replicas"), owner);

    public override Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }
}

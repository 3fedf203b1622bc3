using Akka.Configuration;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Node;

/// <summary>
/// The backend of this node's master-target replicas, chosen by <c>siterecovery.data-path.master-target.replica-store</c>:
/// <c>local</c> files or <c>azure-page-blob</c>. Checked at start-up (credentials read, never logged) so a bad value stops
/// the node with its key named.
/// </summary>
public static class ReplicaStores
{
    public const string Local = "local";
    public const string AzurePageBlob = "azure-page-blob";
    const string StoreKey = "master-target.replica-store";
    const string Azure = "master-target.azure-page-blob";

    /// <summary>
    /// The factory of the chosen backend for the master target whose data folder is <paramref name="masterTargetDirectory"/>,
    /// fenced to <paramref name="ownerId"/>; <paramref name="describe"/> hears where the replicas go (never a credential).
    /// </summary>
    public static IReplicaStoreFactory Create(Config c, string masterTargetDirectory, string ownerId, IReadOnlyDictionary<string, string> replicaFiles, Action<string>? describe = null)
    {
        var store = c.GetString(DataPathSettings.Key(StoreKey), Local);
        switch (store)
        {
            case Local:
                return new LocalFileReplicaStoreFactory(Path.Combine(masterTargetDirectory, "replicas"), ownerId, replicaFiles);
            case AzurePageBlob:
                if (replicaFiles.Count > 0)
                    throw new ArgumentException($"{ReplicaFiles.Flag} adopts a local file, but {DataPathSettings.Key(StoreKey)} = {AzurePageBlob} keeps replicas as page blobs");
                var options = AzureOptions(c);
                var account = Account(c);
                describe?.Invoke($"master target: replicas are page blobs in container '{options.Container}' ({account.Source})");
                return new PageBlobReplicaStoreFactory(account, options, ownerId);
            default:
                throw new ArgumentException($"{DataPathSettings.Key(StoreKey)} = '{store}': expected {Local} or {AzurePageBlob}");
        }
    }

    static StorageAccount Account(Config c)
    {
        var file = c.GetString(DataPathSettings.Key($"{Azure}.connection-file"), "");
        var variable = c.GetString(DataPathSettings.Key($"{Azure}.connection-env"), "");
        try
        {
            return (file.Length > 0, variable.Length > 0) switch
            {
                (true, false) => StorageAccount.FromFile(Path.GetFullPath(file)),
                (false, true) => StorageAccount.FromEnvironment(variable),
                _ => throw new ArgumentException("give exactly one of connection-file and connection-env"),
            };
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{DataPathSettings.Key(Azure)}: {e.Message}");
        }
    }

    static PageBlobReplicaOptions AzureOptions(Config c)
    {
        var options = new PageBlobReplicaOptions(
            c.GetString(DataPathSettings.Key($"{Azure}.container"), ""),
            c.GetString(DataPathSettings.Key($"{Azure}.blob-prefix"), ""),
            DataPathSettings.Duration(c, $"{Azure}.lease-duration"),
            DataPathSettings.Duration(c, $"{Azure}.lease-renew-interval"),
            (int)DataPathSettings.Bytes(c, $"{Azure}.max-upload-bytes", 512, PageBlobReplicaOptions.UploadPagesLimit),
            new PageBlobRetryOptions(
                (int)DataPathSettings.Number(c, $"{Azure}.retry.max-retries", 0, 100),
                DataPathSettings.Duration(c, $"{Azure}.retry.delay"),
                DataPathSettings.Duration(c, $"{Azure}.retry.max-delay"),
                DataPathSettings.Duration(c, $"{Azure}.retry.network-timeout")),
            c.GetBoolean(DataPathSettings.Key($"{Azure}.coalesce-writes"), true))
        {
            SnapshotPoints = c.GetBoolean(DataPathSettings.Key($"{Azure}.snapshot-points"), false),
            PointReadAhead = (int)DataPathSettings.Number(c, $"{Azure}.point-read-ahead", 0, PageBlobReplicaOptions.PointReadAheadLimit),
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new ArgumentException($"{DataPathSettings.Key(Azure)}: {e.Message}"); }
        return options;
    }
}

using SiteRecovery.Azure.Replicas;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Journal.Tests;

/// <summary>The page-blob store's view of <see cref="AzuriteEmulator"/>: its account and test options.</summary>
internal static class Azurite
{
    public const int Port = AzuriteEmulator.Port;

    public static string ConnectionString(int port = Port) => AzuriteEmulator.ConnectionString(port);

    public static void RequireRunning() => AzuriteEmulator.RequireRunning();

    public static string NewContainer(string purpose) => AzuriteEmulator.NewContainer(purpose);

    /// <summary>The account as an operator gives it: an endpoint + shared key file, private to its owner.</summary>
    public static StorageAccount Account(TempDir dir, int port = Port, string key = AzuriteEmulator.AccountKey) =>
        StorageAccount.FromFile(AzuriteEmulator.WriteAccountFile(dir.Path, port, key));

    /// <summary>Options for tests: the shortest lease Azure allows, and a retry policy that rides out a few seconds of faults.</summary>
    public static PageBlobReplicaOptions Options(string container, PageBlobRetryOptions? retry = null, bool coalesce = true) => new(
        container, "", TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(5), PageBlobReplicaOptions.UploadPagesLimit,
        retry ?? new PageBlobRetryOptions(5, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20)), coalesce);
}

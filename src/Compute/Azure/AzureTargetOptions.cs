namespace SiteRecovery.Compute.Azure;

/// <summary>
/// Where the Azure target creates machines and how it talks to Azure Resource Manager. Everything here is an
/// operator's setting of the vault's region; nothing is guessed.
/// </summary>
/// <param name="SubscriptionId">The subscription the vault's region lives in.</param>
/// <param name="ResourceGroup">The resource group every recovered machine, its disks and its NIC are created in.</param>
/// <param name="Location">The vault's region (<c>westeurope</c>); disks and machines are created there.</param>
/// <param name="StorageAccountId">ARM id of the storage account that holds the replicas' page blobs: an import names it.</param>
/// <param name="ProductionSubnetId">ARM id of the subnet a planned or unplanned failover's machines join.</param>
/// <param name="IsolatedSubnetId">ARM id of the subnet a test failover's machines join: one that reaches nothing of production.</param>
public sealed record AzureTargetOptions(
    string SubscriptionId,
    string ResourceGroup,
    string Location,
    string StorageAccountId,
    string ProductionSubnetId,
    string IsolatedSubnetId)
{
    /// <summary>Azure Resource Manager's endpoint (public cloud unless a sovereign cloud, or a test's stand-in, says otherwise).</summary>
    public Uri Endpoint { get; init; } = new("https://management.azure.com");

    /// <summary>
    /// The blob endpoint of <see cref="StorageAccountId"/>'s account (<c>https://ACCOUNT.blob.core.windows.net/</c>): a disk
    /// is imported only from a blob under it, the account the import names. Null: any https blob URI is taken.
    /// </summary>
    public Uri? BlobEndpoint { get; init; }

    /// <summary>The token audience of <see cref="Endpoint"/>.</summary>
    public string Audience { get; init; } = "https://management.azure.com";

    /// <summary>
    /// The Microsoft.Network API version of network interfaces: the Network management library is not served here, so
    /// NICs go through ARM's generic resource calls, which need their version named.
    /// </summary>
    public string NetworkApiVersion { get; init; } = "2023-09-01";

    /// <summary>Retries of one ARM call on throttling (429, honouring Retry-After), 5xx and dropped connections.</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>The first retry's delay; it doubles up to <see cref="MaxRetryDelay"/> (with jitter, the SDK's exponential mode).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a boot wait reads the machine's serial log (boot diagnostics) and state.</summary>
    public TimeSpan BootPollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the serial logs of started machines are kept on this node (each machine's in its work directory otherwise).</summary>
    public string ConsoleFileName { get; init; } = "serial.log";
}

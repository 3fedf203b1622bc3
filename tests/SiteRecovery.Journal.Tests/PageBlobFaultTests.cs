using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// A page-blob replica written through a loopback proxy in front of Azurite that answers 503 with Retry-After and drops
/// connections after the request reached Azurite: every write completes, in order, and nothing is lost.
/// </summary>
public sealed class PageBlobFaultTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly string _container = Azurite.NewContainer("fault");

    public Task InitializeAsync()
    {
        Azurite.RequireRunning();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await new BlobServiceClient(Azurite.ConnectionString()).GetBlobContainerClient(_container).DeleteIfExistsAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task WritesThroughFaultsCompleteInOrderAndNothingIsLost()
    {
        const int size = 8 * 1024 * 1024;
        await using var proxy = FaultProxy.Start(Azurite.Port);
        // Enough retries to ride out a fault window of about a second (a 503 asks for a 1 s wait).
        var retry = new PageBlobRetryOptions(MaxRetries: 20, Delay: TimeSpan.FromMilliseconds(100), MaxDelay: TimeSpan.FromSeconds(1), NetworkTimeout: TimeSpan.FromSeconds(10));
        var factory = new PageBlobReplicaStoreFactory(Azurite.Account(_dir, proxy.Port), Azurite.Options(_container, retry), "owner-fault");
        var reference = new byte[size];
        var rng = new Random(77);
        var ops = 0;

        await using (var store = await factory.OpenAsync("disk-fault", size))
        {
            using var stopFaults = new CancellationTokenSource();
            var faults = Task.Run(async () =>
            {
                while (!stopFaults.IsCancellationRequested)
                {
                    proxy.Set(FaultProxy.Mode.Pass);
                    await Task.Delay(1000);
                    proxy.Set(FaultProxy.Mode.Answer503);
                    await Task.Delay(600);
                    proxy.Set(FaultProxy.Mode.Pass);
                    await Task.Delay(1000);
                    proxy.Set(FaultProxy.Mode.DropAnswers);
                    await Task.Delay(600);
                }
                proxy.Set(FaultProxy.Mode.Pass);
            });
            // Faults last about half a second with a second of service between them, the way an outage comes and goes.
            // Half the operations hit one hot MiB, so later writes overwrite earlier ones: a reordered or replayed-late
            // write would show in the comparison.
            while (ops < 200 || proxy.Answered503 == 0 || proxy.Dropped == 0)
            {
                Assert.True(ops < 2000, $"faults never happened: {proxy.Answered503} answered 503, {proxy.Dropped} answers dropped after {ops} writes");
                var length = rng.Next(1, 200_000);
                var window = rng.Next(2) == 0 ? 1024 * 1024 : size;
                var offset = rng.Next(0, window - length);
                if (rng.Next(5) == 0)
                {
                    await store.ZeroAsync(offset, length);
                    Array.Clear(reference, offset, length);
                }
                else
                {
                    var data = new byte[length];
                    rng.NextBytes(data);
                    await store.WriteAsync(offset, data);
                    data.CopyTo(reference, offset);
                }
                ops++;
            }
            await stopFaults.CancelAsync();
            await faults;
            await store.FlushAsync();
        }

        // Read straight from Azurite, past the proxy.
        var blob = new BlobServiceClient(Azurite.ConnectionString()).GetBlobContainerClient(_container).GetBlobClient("disk-fault.vhd");
        var content = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(size + 512, content.Length);
        var at = reference.AsSpan().CommonPrefixLength(content.AsSpan(0, size));
        Assert.True(at == size, $"after {ops} operations ({proxy.Answered503} answered 503, {proxy.Dropped} answers dropped, {proxy.Cut} connections cut) the blob differs at {at}");
        Assert.Equal(size, VhdFooter.Parse(content.AsSpan(size)).CurrentSize);
    }
}

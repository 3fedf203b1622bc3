using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.TestSupport;

/// <summary>
/// The Azurite blob service tests/setup.sh starts on 127.0.0.1:10000 (a real storage emulator, not a mock). Its account is
/// the emulator's fixed development account, which Microsoft publishes for it: not a secret.
/// </summary>
public static class AzuriteEmulator
{
    public const string Host = "127.0.0.1";
    public const int Port = 10000;
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>Where tests/setup.sh installs Azurite's blob service.</summary>
    public const string BlobServiceProgram = "/opt/azurite/node_modules/.bin/azurite-blob";

    /// <summary>The blob endpoint, directly or through a proxy on <paramref name="port"/>.</summary>
    public static string Endpoint(int port = Port) => $"http://{Host}:{port}/{AccountName}";

    public static string ConnectionString(int port = Port) =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={Endpoint(port)};";

    /// <summary>The account as an operator gives it: an endpoint + shared key file in <paramref name="directory"/>, private to its owner.</summary>
    public static string WriteAccountFile(string directory, int port = Port, string key = AccountKey)
    {
        var file = Path.Combine(directory, $"account-{Guid.NewGuid():N}.conf");
        File.WriteAllText(file, $"endpoint = {Endpoint(port)}\naccount-name = {AccountName}\naccount-key = {key}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return file;
    }

    /// <summary>Fails the test at once, saying what to do, when Azurite does not answer.</summary>
    public static void RequireRunning(int port = Port)
    {
        try
        {
            using var probe = new TcpClient();
            probe.Connect(Host, port);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"Azurite is not answering on {Host}:{port} ({e.SocketErrorCode}): run tests/setup.sh", e);
        }
    }

    /// <summary>A fresh container name (the test deletes it at the end).</summary>
    public static string NewContainer(string purpose) => $"sr-{purpose}-{Guid.NewGuid():N}";

    /// <summary>
    /// Starts an Azurite of the test's own (for a test that kills it: the setup's instance is shared) on a free loopback
    /// port with its data in <paramref name="dataDirectory"/>, and waits until it answers.
    /// </summary>
    public static async Task<OwnAzurite> StartOwnAsync(string dataDirectory)
    {
        var free = new TcpListener(IPAddress.Loopback, 0);
        free.Start();
        var port = ((IPEndPoint)free.LocalEndpoint).Port;
        free.Stop();
        var own = new OwnAzurite(port, dataDirectory);
        await own.StartAsync();
        return own;
    }
}

/// <summary>
/// An Azurite process a test started (blob service only, telemetry off, its data in its own directory so a restart keeps
/// the blobs): killed with SIGKILL and started again on the same port and directory. Azurite writes page data to its
/// extent files at once but saves its metadata (which pages a blob holds, leases) every 5 s, so a kill loses what it
/// acknowledged in the last seconds before it; a test reads its recovered state, not that, as its witness.
/// </summary>
public sealed class OwnAzurite : IAsyncDisposable
{
    private ChildProcess? _process;
    private int _starts;

    internal OwnAzurite(int port, string dataDirectory)
    {
        Port = port;
        DataDirectory = dataDirectory;
    }

    public int Port { get; }
    public string DataDirectory { get; }
    /// <summary>The process id of the running Azurite (the one to kill), or null while it is down.</summary>
    public int? Pid => _process is { HasExited: false } p ? p.Pid : null;

    internal async Task StartAsync()
    {
        if (!File.Exists(AzuriteEmulator.BlobServiceProgram))
            throw new InvalidOperationException($"Azurite is not installed at {AzuriteEmulator.BlobServiceProgram}: run tests/setup.sh");
        Directory.CreateDirectory(DataDirectory);
        _process = ChildProcess.Start($"azurite-{++_starts}", AzuriteEmulator.BlobServiceProgram,
            ["--blobHost", AzuriteEmulator.Host, "--blobPort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--location", DataDirectory, "--disableTelemetry", "--skipApiVersionCheck", "--silent"], DataDirectory);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(AzuriteEmulator.Host, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"Azurite did not start on {AzuriteEmulator.Host}:{Port}:\n  {_process.RecentOutput()}", e);
            }
        }
    }

    /// <summary>SIGKILL, as a crash of the storage service: nothing is saved or drained.</summary>
    public async Task Kill9Async()
    {
        if (_process is null) return;
        await _process.Kill9Async();
        await _process.DisposeAsync();
        _process = null;
    }

    /// <summary>Starts it again on the same port and data directory (after <see cref="Kill9Async"/>).</summary>
    public Task RestartAsync() =>
        _process is null ? StartAsync() : throw new InvalidOperationException($"Azurite on port {Port} is still running (pid {_process.Pid})");

    public async ValueTask DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
        _process = null;
    }
}

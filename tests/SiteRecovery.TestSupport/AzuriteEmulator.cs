using System.Net.Sockets;

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
    public static void RequireRunning()
    {
        try
        {
            using var probe = new TcpClient();
            probe.Connect(Host, Port);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"Azurite is not answering on {Host}:{Port} ({e.SocketErrorCode}): run tests/setup.sh", e);
        }
    }

    /// <summary>A fresh container name (the test deletes it at the end).</summary>
    public static string NewContainer(string purpose) => $"sr-{purpose}-{Guid.NewGuid():N}";
}

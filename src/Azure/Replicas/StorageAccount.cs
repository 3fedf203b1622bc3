using Azure.Storage;
using Azure.Storage.Blobs;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// Where a storage account's credentials come from: a private file or an environment variable, never the command line
/// (a process's arguments are readable by every user). Its content is either a connection string
/// (<c>DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;BlobEndpoint=…</c>) or three lines
/// <c>endpoint = URL</c>, <c>account-name = NAME</c>, <c>account-key = BASE64</c>. The same code reaches Azure and
/// Azurite: only the endpoint differs. Errors name the source, never the content; the credentials are held in memory only.
/// </summary>
public sealed class StorageAccount
{
    readonly Func<BlobClientOptions, BlobServiceClient> _connect;

    StorageAccount(string source, Func<BlobClientOptions, BlobServiceClient> connect)
    {
        Source = source;
        _connect = connect;
    }

    /// <summary>Where the credentials were read from (a file path or <c>$VARIABLE</c>): safe to log.</summary>
    public string Source { get; }

    /// <summary>Reads the credentials from <paramref name="path"/>, which must be readable by its owner only.</summary>
    public static StorageAccount FromFile(string path)
    {
        var source = $"connection file '{path}'";
        if (!File.Exists(path)) throw new ArgumentException($"{source} does not exist");
        if (PrivateFiles.OpenToOthers(path)) throw new ArgumentException($"{source} is readable or writable by others (chmod 600 it): it holds a storage account key");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ArgumentException($"{source} cannot be read: {e.Message}"); }
        return Parse(source, text);
    }

    /// <summary>Reads the credentials from the environment variable <paramref name="name"/>.</summary>
    public static StorageAccount FromEnvironment(string name)
    {
        var source = $"environment variable ${name}";
        var text = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException($"{source} is not set");
        return Parse(source, text);
    }

    /// <summary>A client for the account's blob service with <paramref name="options"/> (retry policy and timeouts).</summary>
    public BlobServiceClient Connect(BlobClientOptions options) => _connect(options);

    static StorageAccount Parse(string source, string text)
    {
        text = text.Trim();
        if (text.Length == 0) throw new ArgumentException($"{source} is empty");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // The three-line form has an "endpoint =" line; a connection string never does (its keys are BlobEndpoint,
        // EndpointSuffix and the like, separated by semicolons).
        if (!lines.Any(l => l.Split('=', 2)[0].Trim().Equals("endpoint", StringComparison.OrdinalIgnoreCase)))
        {
            // A connection string: checked now, so a typo stops start-up rather than the first replica's open.
            try { _ = new BlobServiceClient(text); }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                throw new ArgumentException($"{source}: not a valid storage connection string ({e.GetType().Name}; the content is not shown)");
            }
            return new StorageAccount(source, o => new BlobServiceClient(text, o));
        }
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines)
        {
            var eq = line.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"{source}: a line is not 'key = value' (expected endpoint, account-name, account-key)");
            var key = line[..eq].Trim();
            if (key is not ("endpoint" or "account-name" or "account-key")) throw new ArgumentException($"{source}: unknown key '{key}' (expected endpoint, account-name, account-key)");
            values[key] = line[(eq + 1)..].Trim();
        }
        foreach (var key in new[] { "endpoint", "account-name", "account-key" })
            if (!values.TryGetValue(key, out var v) || v.Length == 0) throw new ArgumentException($"{source}: '{key}' is missing");
        if (!Uri.TryCreate(values["endpoint"], UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("https" or "http"))
            throw new ArgumentException($"{source}: endpoint '{values["endpoint"]}' is not an http(s) URL");
        try { _ = Convert.FromBase64String(values["account-key"]); }
        catch (FormatException) { throw new ArgumentException($"{source}: account-key is not base64 (the key is not shown)"); }
        var credential = new StorageSharedKeyCredential(values["account-name"], values["account-key"]);
        return new StorageAccount(source, o => new BlobServiceClient(endpoint, credential, o));
    }
}

using System.Text.Json;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Connections;

/// <summary>
/// Where a component registered (<c>enrollment.json</c> beside its key and certificate): the configuration node's API,
/// the configuration server, the id it was certified for and the CA file that API is trusted by. What a running component
/// needs to renew its certificate by itself (by proof of its key: no passphrase, so nothing secret is kept here).
/// </summary>
public sealed record EnrollmentRecord(string ApiUrl, string ConfigurationServerId, string ComponentId, string? ApiCaFile = null)
{
    public const string FileName = "enrollment.json";

    public void Store(string directory) => PrivateFiles.WriteAtomically(Path.Combine(directory, FileName), JsonSerializer.SerializeToUtf8Bytes(this));

    /// <summary>The record in <paramref name="directory"/>, or null when the component never registered from there.</summary>
    public static EnrollmentRecord? Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<EnrollmentRecord>(File.ReadAllBytes(path)) is { ApiUrl.Length: > 0, ConfigurationServerId.Length: > 0, ComponentId.Length: > 0 } r
                ? r : throw new InvalidDataException($"'{path}' does not name an API, a configuration server and a component; register again");
        }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not an enrollment record ({e.Message}); register again", e); }
    }
}

using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace SiteRecovery.Actors.Serialization;

/// <summary>
/// System.Text.Json serializer with explicit string manifests (see <see cref="ControlManifestRegistry"/>)
/// for control-plane events and snapshots. Unknown manifests throw <see cref="SerializationException"/>.
/// </summary>
public sealed class ControlJsonSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int SerializerIdentifier = 7301;
    public const string SerializerName = "siterecovery-control-json";

    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.General)
    {
        // The specific converter first: the first one that can convert a type wins.
        Converters = { new ResyncReasonJsonConverter(), new JsonStringEnumConverter() },
        WriteIndented = false,
    };

    public override int Identifier => SerializerIdentifier;

    public override string Manifest(object o) => ControlManifestRegistry.ManifestFor(o.GetType());

    public override byte[] ToBinary(object obj)
    {
        var type = obj.GetType();
        _ = ControlManifestRegistry.ManifestFor(type);
        return JsonSerializer.SerializeToUtf8Bytes(obj, type, Options);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        var type = ControlManifestRegistry.TypeFor(manifest);
        try
        {
            return JsonSerializer.Deserialize(bytes, type, Options)
                   ?? throw new SerializationException($"Manifest '{manifest}' deserialized to null");
        }
        catch (JsonException ex)
        {
            throw new SerializationException($"Cannot deserialize manifest '{manifest}' as {type.Name}: {ex.Message}", ex);
        }
    }
}

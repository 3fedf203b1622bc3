using System.Text.Json;
using System.Text.Json.Serialization;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.Serialization;

/// <summary>
/// <see cref="ResyncReason"/> by name, as <see cref="JsonStringEnumConverter"/> writes and reads it, plus the one name
/// the journal holds from before the control plane and the data path shared the enum: <c>CacheLost</c>, which the
/// control plane's own copy of the enum had where the data path's has <see cref="ResyncReason.StreamGap"/> (the same
/// event: the process server no longer held what the agent would resend). Journals on disk keep that name in
/// <c>disk-resync-required.v1</c> events and <c>disk-state.v1</c> snapshots; they must replay to the same state.
/// The control plane's copy listed its members in another order, but the journal only ever held names
/// (<see cref="ControlJsonSerializer"/> had the string converter from its first version), so no number needs mapping.
/// </summary>
public sealed class ResyncReasonJsonConverter : JsonConverter<ResyncReason>
{
    static readonly byte[] LegacyStreamGap = "CacheLost"u8.ToArray();

    JsonConverter<ResyncReason>? _names;

    JsonConverter<ResyncReason> Names(JsonSerializerOptions options) =>
        _names ??= (JsonConverter<ResyncReason>)new JsonStringEnumConverter<ResyncReason>().CreateConverter(typeof(ResyncReason), options)!;

    public override ResyncReason Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && reader.ValueTextEquals(LegacyStreamGap)
            ? ResyncReason.StreamGap
            : Names(options).Read(ref reader, typeToConvert, options);

    public override void Write(Utf8JsonWriter writer, ResyncReason value, JsonSerializerOptions options) =>
        Names(options).Write(writer, value, options);
}

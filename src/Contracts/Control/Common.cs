namespace SiteRecovery.Contracts.Control;

/// <summary>A message addressed to one entity; regions route on <see cref="EntityId"/>.</summary>
public interface IEntityMessage
{
    string EntityId { get; }
}

/// <summary>Marker for every persisted control-plane event; bound to the string-manifest JSON serializer.</summary>
public interface IControlEvent;

/// <summary>Marker for every persisted control-plane snapshot state; bound to the same serializer.</summary>
public interface IControlSnapshot;

/// <summary>Stable wire/journal manifest of an event or snapshot type, e.g. <c>disk-registered.v1</c>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class ManifestAttribute(string manifest) : Attribute
{
    public string Manifest { get; } = manifest;
}

public enum RejectionReason
{
    /// <summary>The entity has not been registered; only its Register command is allowed.</summary>
    NotRegistered,
    /// <summary>The entity is already registered with different data.</summary>
    AlreadyRegistered,
    /// <summary>A field violates a validation rule (the message names field and rule).</summary>
    InvalidArgument,
    /// <summary>A sequence went backwards.</summary>
    OutOfOrder,
    /// <summary>The command is not valid in the entity's current state.</summary>
    InvalidState,
    /// <summary>The master target has no usable data-disk slot left.</summary>
    OutOfSlots,
    /// <summary>The command conflicts with existing data (e.g. same replica path for another disk).</summary>
    Conflict,
}

/// <summary>Answer to every command. A rejected command persisted nothing.</summary>
public abstract record CommandResult
{
    private CommandResult() { }

    /// <summary>Accepted; <paramref name="EventCount"/> events were persisted (0 = idempotent no-op).</summary>
    public sealed record Accepted(int EventCount) : CommandResult;

    /// <summary>Rejected with a reason and a message naming the field and the rule.</summary>
    public sealed record Rejected(RejectionReason Reason, string Message) : CommandResult;

    public bool IsAccepted => this is Accepted;
}

using System.Collections.Immutable;
using System.Text.Json.Serialization;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Alerts;

/// <summary>One alert, active (<see cref="ClearedAtUnixMs"/> null) or cleared.</summary>
public sealed record AlertRecord(AlertKind Kind, string Target, string Detail, long RaisedAtUnixMs, long? ClearedAtUnixMs)
{
    public AlertView ToView() => new(Kind, Target, Detail, RaisedAtUnixMs, ClearedAtUnixMs);
}

/// <summary>
/// Immutable state of the AlertMonitor with pure <see cref="Decide"/> and <see cref="Apply"/>: the active alerts keyed by
/// (kind, target) and a bounded history of cleared alerts (oldest first, at most <see cref="HistoryLimit"/>).
/// </summary>
[Manifest("alert-state.v1")]
public sealed record AlertState(
    ImmutableSortedDictionary<string, AlertRecord> Active,
    ImmutableList<AlertRecord> History)
    : IAlertSnapshot, IAggregateState<AlertState, IAlertCommand, IAlertEvent>
{
    /// <summary>How many cleared alerts are kept.</summary>
    public const int HistoryLimit = 500;

    public static AlertState Empty { get; } =
        new(ImmutableSortedDictionary.Create<string, AlertRecord>(StringComparer.Ordinal), ImmutableList<AlertRecord>.Empty);

    /// <summary>Dictionary key of an alert (JSON-friendly string form of <see cref="AlertKey"/>).</summary>
    public static string KeyOf(AlertKind kind, string target) => $"{kind}/{target}";

    public bool IsActive(AlertKind kind, string target) => Active.ContainsKey(KeyOf(kind, target));

    [JsonIgnore]
    public IReadOnlySet<AlertKey> ActiveKeys => Active.Values.Select(a => new AlertKey(a.Kind, a.Target)).ToHashSet();

    public Decision<IAlertEvent> Decide(IAlertCommand command) => command switch
    {
        Observe c => DecideObserve(c),
        _ => Decision<IAlertEvent>.Reject(RejectionReason.InvalidArgument, $"Command type {command.GetType().Name} is not handled by AlertMonitor"),
    };

    private Decision<IAlertEvent> DecideObserve(Observe c)
    {
        const string cmd = nameof(Observe);
        if (c.Observations is null) return Invalid($"{cmd}.Observations must not be null");
        if (c.NowUnixMs < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.NowUnixMs), c.NowUnixMs));

        var seen = new HashSet<AlertKey>();
        for (var i = 0; i < c.Observations.Count; i++)
        {
            var o = c.Observations[i];
            if (o is null) return Invalid($"{cmd}.Observations[{i}] must not be null");
            if (!Enum.IsDefined(o.Kind)) return Invalid(Rules.MustBeDefined($"{cmd}.Observations[{i}]", nameof(o.Kind), o.Kind));
            if (Rules.Blank(o.Target)) return Invalid(Rules.MustBeNonEmpty($"{cmd}.Observations[{i}]", nameof(o.Target)));
            if (!seen.Add(o.Key)) return Invalid($"{cmd}.Observations[{i}]: {o.Key} is observed more than once");
        }

        var events = new List<IAlertEvent>();
        foreach (var o in c.Observations)
        {
            var active = IsActive(o.Kind, o.Target);
            if (o.Holds && !active) events.Add(new AlertRaised(o.Kind, o.Target, o.Detail ?? string.Empty, c.NowUnixMs));
            else if (!o.Holds && active) events.Add(new AlertCleared(o.Kind, o.Target, c.NowUnixMs));
        }

        return events.Count == 0 ? Decision<IAlertEvent>.NoOp : Decision<IAlertEvent>.Accept(events.ToArray());
    }

    public AlertState Apply(IAlertEvent @event)
    {
        switch (@event)
        {
            case AlertRaised e:
                return this with { Active = Active.SetItem(KeyOf(e.Kind, e.Target), new AlertRecord(e.Kind, e.Target, e.Detail, e.AtUnixMs, null)) };
            case AlertCleared e:
                var key = KeyOf(e.Kind, e.Target);
                if (!Active.TryGetValue(key, out var alert)) return this;
                var history = History.Add(alert with { ClearedAtUnixMs = e.AtUnixMs });
                if (history.Count > HistoryLimit) history = history.RemoveRange(0, history.Count - HistoryLimit);
                return this with { Active = Active.Remove(key), History = history };
            default:
                throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown alert event");
        }
    }

    /// <summary>Active alerts (newest raised first), then, unless <paramref name="activeOnly"/>, cleared ones (newest cleared first).</summary>
    public AlertList ToList(bool activeOnly)
    {
        var active = Active.Values.OrderByDescending(a => a.RaisedAtUnixMs).ThenBy(a => a.Kind).ThenBy(a => a.Target, StringComparer.Ordinal);
        var cleared = activeOnly ? Enumerable.Empty<AlertRecord>() : History.AsEnumerable().Reverse();
        return new AlertList(active.Concat(cleared).Select(a => a.ToView()).ToList());
    }

    private static Decision<IAlertEvent> Invalid(string message) =>
        Decision<IAlertEvent>.Reject(RejectionReason.InvalidArgument, message);
}

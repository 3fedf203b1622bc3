using Akka.Actor;
using Akka.Event;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Alerts;

/// <summary>
/// Keeps the <see cref="AlertFacts"/> read model from the whole journal (first CurrentAllEvents to catch up, then the
/// live AllEvents from where that ended) and, once caught up, on a timer runs <see cref="AlertRules"/> and sends the
/// observations to the <see cref="AlertMonitor"/> (asking it for the active alerts first, for hysteresis).
/// </summary>
public sealed class AlertEvaluator : ReceiveActor, IWithTimers
{
    /// <summary>Run the rules now; answered with <see cref="Evaluated"/> (or <see cref="Status.Failure"/> while catching up).</summary>
    public sealed record EvaluateNow;
    public sealed record Evaluated(IReadOnlyList<Observation> Observations, CommandResult Result);
    /// <summary>Answered with <see cref="FactsView"/>.</summary>
    public sealed record GetFacts;
    public sealed record FactsView(AlertFacts Facts, bool CaughtUp, long EventsSeen);
    /// <summary>Answered with <see cref="RpoReport"/> as of now (or <see cref="Status.Failure"/> while catching up).</summary>
    public sealed record GetRpo;

    private sealed record Tick;
    private sealed record StreamInit;
    private sealed record StreamAck;
    private sealed record CatchUpDone;
    private sealed record LiveDone;
    private sealed record StreamFailed(Exception Cause);

    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _monitor;
    private readonly AlertSettings _settings;
    private readonly List<UniqueKillSwitch> _streams = [];
    private AlertFacts _facts = AlertFacts.Empty;
    private long _lastOffset;
    private long _seen;
    private bool _caughtUp;

    public ITimerScheduler Timers { get; set; } = null!;

    public AlertEvaluator(IActorRef monitor, AlertSettings settings)
    {
        _monitor = monitor;
        _settings = settings.Validate();

        Receive<StreamInit>(_ => Sender.Tell(new StreamAck()));
        Receive<EventEnvelope>(e =>
        {
            if (e.Offset is Sequence s)
            {
                if (s.Value <= _lastOffset) { Sender.Tell(new StreamAck()); return; } // already seen (catch-up/live overlap)
                _lastOffset = s.Value;
            }

            _seen++;
            _facts = _facts.Apply(e.Event, TimestampUnixMs(e.Timestamp));
            Sender.Tell(new StreamAck());
        });
        Receive<CatchUpDone>(_ =>
        {
            _caughtUp = true;
            StartStream(Journal.AllEvents(Offset.Sequence(_lastOffset)), new LiveDone());
            Timers.StartPeriodicTimer("evaluate", new Tick(), _settings.EvaluationInterval);
            Self.Tell(new Tick());
        });
        Receive<LiveDone>(_ => _log.Warning("The alert evaluator's live journal stream completed"));
        Receive<StreamFailed>(f => throw new InvalidOperationException("the alert evaluator lost its journal stream", f.Cause));
        Receive<GetFacts>(_ => Sender.Tell(new FactsView(_facts, _caughtUp, _seen)));
        Receive<GetRpo>(_ => Sender.Tell(_caughtUp
            ? RpoReport.Of(_facts, _settings.Now(), _settings.DefaultRpoThreshold)
            : new Status.Failure(new InvalidOperationException("the RPO read model is still catching up with the journal"))));

        ReceiveAsync<Tick>(async _ =>
        {
            if (!_caughtUp) return;
            try
            {
                await EvaluateAsync();
            }
            catch (Exception ex)
            {
                _log.Warning(ex, "Alert evaluation failed; retrying at the next tick");
            }
        });
        ReceiveAsync<EvaluateNow>(async _ =>
        {
            var replyTo = Sender;
            if (!_caughtUp)
            {
                replyTo.Tell(new Status.Failure(new InvalidOperationException("the alert evaluator is still catching up with the journal")));
                return;
            }

            try
            {
                replyTo.Tell(await EvaluateAsync());
            }
            catch (Exception ex)
            {
                replyTo.Tell(new Status.Failure(ex));
            }
        });
    }

    public static Props Props(IActorRef monitor, AlertSettings settings) =>
        Akka.Actor.Props.Create(() => new AlertEvaluator(monitor, settings));

    private SqlReadJournal Journal => SiteRecovery.Actors.ReadModels.ReadJournals.Sql(Context.System);

    protected override void PreStart()
    {
        base.PreStart();
        StartStream(Journal.CurrentAllEvents(Offset.NoOffset()), new CatchUpDone());
    }

    protected override void PostStop()
    {
        foreach (var stream in _streams) stream.Shutdown();
        base.PostStop();
    }

    private void StartStream(Source<EventEnvelope, Akka.NotUsed> source, object onComplete)
    {
        var sink = Sink.ActorRefWithAck<EventEnvelope>(Self, new StreamInit(), new StreamAck(), onComplete, e => new StreamFailed(e));
        _streams.Add(source.ViaMaterialized(KillSwitches.Single<EventEnvelope>(), Keep.Right)
            .ToMaterialized(sink, Keep.Left)
            .Run(Context.System.Materializer()));
    }

    private async Task<Evaluated> EvaluateAsync()
    {
        var active = await _monitor.Ask<AlertList>(new GetAlerts(ActiveOnly: true), AskTimeout);
        var now = _settings.Now();
        var observations = AlertRules.Evaluate(_facts, active.Alerts.Select(a => a.Key).ToHashSet(), now, _settings);
        var result = await _monitor.Ask<CommandResult>(new Observe(observations, now), AskTimeout);
        if (result is CommandResult.Rejected r) _log.Warning("AlertMonitor rejected the observations: {0}", r.Message);
        return new Evaluated(observations, result);
    }

    /// <summary>Akka.Persistence.Sql envelope timestamps are UTC ticks; 0 = unknown (use now).</summary>
    private long TimestampUnixMs(long ticks) =>
        ticks > 0 ? new DateTimeOffset(new DateTime(ticks, DateTimeKind.Utc)).ToUnixTimeMilliseconds() : _settings.Now();
}

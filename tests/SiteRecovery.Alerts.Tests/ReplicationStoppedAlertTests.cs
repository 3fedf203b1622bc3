using Akka.Actor;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Actors.Control.ProtectedDisk;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>A storage fault that stops a disk's replication: the disk's record, its alert, and its events on the journal.</summary>
public sealed class ReplicationStoppedAlertTests : IDisposable
{
    private const long T0 = 1_700_000_000_000;
    private static readonly IReadOnlySet<AlertKey> None = new HashSet<AlertKey>();
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("stop-serialization");

    public void Dispose() => _system.Terminate().Wait();

    private static Observation Stopped(AlertFacts facts) =>
        Assert.Single(AlertRules.Evaluate(facts, None, T0, AlertSettings.Default), o => o.Kind == AlertKind.DiskReplicationStopped && o.Target == "d1");

    [Fact]
    public void The_alert_holds_from_the_stop_names_reason_and_sequence_and_clears_at_the_resume()
    {
        var facts = AlertFacts.Empty.Apply(new DiskRegistered("d1", "m1", 10, "ps", "mt"), T0);
        Assert.False(Stopped(facts).Holds);
        facts = facts.Apply(new ReplicationStopped("d1", DiskStopReason.SpoolWriteFailed, 41, "No space left on device", T0), T0);
        var raised = Stopped(facts);
        Assert.True(raised.Holds);
        Assert.Contains("stopped after #41", raised.Detail);
        Assert.Contains("SpoolWriteFailed: No space left on device", raised.Detail);
        Assert.False(Stopped(facts.Apply(new ReplicationResumed("d1", T0 + 1), T0 + 1)).Holds);
    }

    [Fact]
    public void The_disk_records_a_stop_once_per_reason_and_a_resume_only_when_stopped()
    {
        var disk = ProtectedDiskState.Empty("d1").Apply(new DiskRegistered("d1", "m1", 10, "ps", "mt"));
        Assert.Empty(disk.Decide(new ResumeReplication("d1", T0)).Events);
        var stop = new StopReplication("d1", DiskStopReason.ReplicaWriteFailed, 7, "Input/output error", T0);
        var stopped = Assert.IsType<ReplicationStopped>(Assert.Single(disk.Decide(stop).Events));
        disk = disk.Apply(stopped);
        Assert.Equal(DiskStopReason.ReplicaWriteFailed, disk.ToView(T0).Stopped?.Reason);
        Assert.Empty(disk.Decide(stop).Events);
        var resumed = Assert.IsType<ReplicationResumed>(Assert.Single(disk.Decide(new ResumeReplication("d1", T0 + 1)).Events));
        Assert.Null(disk.Apply(resumed).ToView(T0).Stopped);
    }

    [Fact]
    public void Stop_and_resume_events_round_trip_through_their_manifests()
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        object[] samples = [new ReplicationStopped("d1", DiskStopReason.JournalFsyncFailed, 3, "EIO", T0), new ReplicationResumed("d1", T0 + 5)];
        foreach (var e in samples)
            Assert.Equal(e, serializer.FromBinary(serializer.ToBinary(e), serializer.Manifest(e)));
    }
}

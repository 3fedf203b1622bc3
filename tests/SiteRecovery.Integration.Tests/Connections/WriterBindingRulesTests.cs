using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Connections;

/// <summary>The writer rules of a disk (<see cref="WriterBindingRules"/>), as a table and as properties.</summary>
public class WriterBindingRulesTests
{
    static readonly string A = new('a', 64), B = new('b', 64);

    public static TheoryData<string, string?, long, string, long, WriterDecisionKind, WriterRefusal?> Table => new()
    {
        // what, bound writer (null: none), its epoch, offered writer, offered epoch, decision, refusal
        { "nothing bound: the first verified writer binds", null, 0, A, 1, WriterDecisionKind.Bind, null },
        { "the bound writer at a higher epoch replaces its session", A, 5, A, 6, WriterDecisionKind.Replace, null },
        { "the bound writer far ahead (a restart after many reconnects)", A, 5, A, 1_700_000_000_000, WriterDecisionKind.Replace, null },
        { "the bound writer at its own epoch: a replay", A, 5, A, 5, WriterDecisionKind.Refuse, WriterRefusal.StaleEpoch },
        { "the bound writer at an older epoch: stale", A, 5, A, 4, WriterDecisionKind.Refuse, WriterRefusal.StaleEpoch },
        { "another writer, lower epoch", A, 5, B, 1, WriterDecisionKind.Refuse, WriterRefusal.DifferentWriter },
        { "another writer, higher epoch: a higher epoch never beats another key", A, 5, B, 99, WriterDecisionKind.Refuse, WriterRefusal.DifferentWriter },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Decides_by_the_table(string what, string? bound, long boundEpoch, string offered, long offeredEpoch, WriterDecisionKind want, WriterRefusal? wantRefusal)
    {
        var binding = bound is null ? null : new WriterBinding(bound, boundEpoch, "vm1");
        var got = WriterBindingRules.Decide("d1", binding, new VerifiedWriter(offered, offeredEpoch, "vm1"));
        Assert.True(want == got.Kind, $"{what}: got {got.Kind}, want {want}");
        Assert.Equal(wantRefusal, got.Refusal);
        if (got.Accepted) Assert.Equal(new WriterBinding(offered, offeredEpoch, "vm1"), got.Binding);
        else Assert.Null(got.Binding);
    }

    [Fact]
    public void A_refusal_names_the_disk_and_both_short_fingerprints_and_the_epochs()
    {
        var other = WriterBindingRules.Decide("disk-7", new WriterBinding(A, 5, "vm1"), new VerifiedWriter(B, 9, "vm1"));
        Assert.Contains("disk-7", other.Detail);
        Assert.Contains(A[..16], other.Detail);
        Assert.Contains(B[..16], other.Detail);
        Assert.DoesNotContain(A, other.Detail); // the short form only
        var stale = WriterBindingRules.Decide("disk-7", new WriterBinding(A, 5, "vm1"), new VerifiedWriter(A, 3, "vm1"));
        Assert.Contains("epoch 3", stale.Detail);
        Assert.Contains("epoch 5", stale.Detail);
    }

    /// <summary>Whatever sequence of hellos arrives, the bound key never changes and its epoch only rises.</summary>
    [Property(MaxTest = 300)]
    public Property The_bound_writer_never_changes_and_its_epoch_only_rises(bool[] fromOther, PositiveInt[] epochs)
    {
        WriterBinding? bound = null;
        var ok = true;
        for (var i = 0; i < Math.Min(fromOther.Length, epochs.Length); i++)
        {
            var offered = new VerifiedWriter(fromOther[i] ? B : A, epochs[i].Get, "vm1");
            var d = WriterBindingRules.Decide("d1", bound, offered);
            if (bound is not null)
            {
                ok &= d.Accepted == (offered.Fingerprint == bound.Fingerprint && offered.Epoch > bound.Epoch);
                if (d.Accepted) ok &= d.Binding!.Fingerprint == bound.Fingerprint && d.Binding.Epoch > bound.Epoch;
            }
            if (d.Accepted) bound = d.Binding;
        }
        return ok.ToProperty();
    }

    [Fact]
    public void A_control_hello_is_refused_when_its_source_s_disks_are_bound_to_another_key()
    {
        var bindings = new[] { ("d1", new WriterBinding(A, 5, "vm1")), ("d2", new WriterBinding(B, 2, "vm2")) };
        Assert.True(WriterBindingRules.DecideControl(bindings, new VerifiedWriter(A, 9, "vm1")).Accepted);
        Assert.Equal(WriterRefusal.ControlOfOtherWriter, WriterBindingRules.DecideControl(bindings, new VerifiedWriter(B, 9, "vm1")).Refusal);
        Assert.True(WriterBindingRules.DecideControl(bindings, new VerifiedWriter(B, 9, "vm3")).Accepted); // no disk of vm3 bound
    }
}

/// <summary>The hello's writer proof (<see cref="HelloSignature"/>) and the identity kept in a state directory (<see cref="WriterIdentity"/>).</summary>
public class HelloSignatureTests
{
    static Hello Hello(string source = "vm1") => new(source, [new DiskOffer("d1", 1 << 20, "vm1"), new DiskOffer("d2", 2 << 20)], ProtocolVersion.Current);

    [Fact]
    public void A_signed_hello_verifies_as_its_writer_at_its_epoch()
    {
        using var w = WriterIdentity.Ephemeral();
        var signed = w.Sign(Hello());
        var (writer, refusal, _) = HelloSignature.Verify(signed);
        Assert.Null(refusal);
        Assert.Equal(w.Fingerprint, writer!.Fingerprint);
        Assert.Equal(w.Epoch, writer.Epoch);
        Assert.Equal(64, w.Fingerprint.Length);
    }

    public static TheoryData<string> Tampered => ["source", "disk id", "disk size", "machine", "version", "epoch", "a disk added", "another key"];

    [Theory]
    [MemberData(nameof(Tampered))]
    public void A_hello_changed_in_any_field_after_signing_is_refused_as_a_bad_signature(string change)
    {
        using var w = WriterIdentity.Ephemeral();
        using var other = WriterIdentity.Ephemeral();
        var s = w.Sign(Hello());
        var changed = change switch
        {
            "source" => s with { SourceId = "vm2" },
            "disk id" => s with { Disks = [s.Disks[0] with { DiskId = "dX" }, s.Disks[1]] },
            "disk size" => s with { Disks = [s.Disks[0] with { SizeBytes = 4096 }, s.Disks[1]] },
            "machine" => s with { Disks = [s.Disks[0], s.Disks[1] with { MachineId = "" }] },
            "version" => s with { Version = 1 },
            "epoch" => s with { Writer = s.Writer! with { Epoch = s.Writer.Epoch + 1 } },
            "a disk added" => s with { Disks = [.. s.Disks, new DiskOffer("d3", 1 << 20)] },
            "another key" => s with { Writer = s.Writer! with { PublicKey = other.Sign(Hello()).Writer!.PublicKey } },
            _ => throw new ArgumentOutOfRangeException(nameof(change)),
        };
        Assert.Equal(WriterRefusal.BadSignature, HelloSignature.Verify(changed).Refusal);
    }

    [Fact]
    public void A_hello_without_identity_is_refused_naming_why()
    {
        var (writer, refusal, detail) = HelloSignature.Verify(Hello());
        Assert.Null(writer);
        Assert.Equal(WriterRefusal.NoIdentity, refusal);
        Assert.Contains("no writer identity", detail);
    }

    [Fact]
    public void The_identity_in_a_state_directory_survives_a_restart_private_and_with_ever_higher_epochs()
    {
        var dir = Path.Combine(Path.GetTempPath(), "sr-writer-" + Guid.NewGuid().ToString("n"));
        try
        {
            string fingerprint;
            long epoch;
            using (var first = WriterIdentity.Open(dir))
            {
                fingerprint = first.Fingerprint;
                epoch = first.NextEpoch();
                Assert.True(first.NextEpoch() > epoch);
                epoch = first.Epoch;
            }
            var key = Path.Combine(dir, WriterIdentity.KeyFileName);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
            Assert.DoesNotContain(Path.GetFileName(key) + DurableFileSuffix, Directory.GetFiles(dir).Select(Path.GetFileName));
            using (var again = WriterIdentity.Open(dir))
            {
                Assert.Equal(fingerprint, again.Fingerprint);
                Assert.Equal(epoch, again.Epoch);
                Assert.True(again.NextEpoch() > epoch);
            }
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
                var e = Assert.Throws<InvalidDataException>(() => WriterIdentity.Open(dir));
                Assert.Contains("read by others", e.Message);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    const string DurableFileSuffix = SiteRecovery.Contracts.Storage.DurableFile.TempSuffix;
}

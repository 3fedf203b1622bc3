using System.Collections.Concurrent;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.TestSupport;

/// <summary>
/// Writer identities of hand-driven test peers (raw-socket agents): one in-memory key per source id for the whole test
/// process, so a peer that reconnects for the same disk is the same writer, and every hello it says gets a new, higher
/// epoch. A test that plays a different writer asks for <see cref="Other"/>.
/// </summary>
public static class TestWriters
{
    static readonly ConcurrentDictionary<string, WriterIdentity> BySource = new();

    /// <summary><paramref name="hello"/> signed by its source's test writer, unless it is signed already.</summary>
    public static Hello Sign(Hello hello) => hello.Writer is not null ? hello : BySource.GetOrAdd(hello.SourceId, _ => WriterIdentity.Ephemeral()).Sign(hello);

    /// <summary>Any control message, a hello signed (<see cref="Sign(Hello)"/>); others as they are.</summary>
    public static ControlMessage Sign(ControlMessage message) => message is Hello h ? Sign(h) : message;

    /// <summary>The test writer of <paramref name="sourceId"/> itself (a test that replays one of its epochs).</summary>
    public static WriterIdentity Of(string sourceId) => BySource.GetOrAdd(sourceId, _ => WriterIdentity.Ephemeral());

    /// <summary>A writer of its own (another key): an impostor, or a reinstalled machine's new agent.</summary>
    public static WriterIdentity Other() => WriterIdentity.Ephemeral();

    /// <summary>The fingerprint of the test writer of <paramref name="sourceId"/>.</summary>
    public static string FingerprintOf(string sourceId) => BySource.GetOrAdd(sourceId, _ => WriterIdentity.Ephemeral()).Fingerprint;
}

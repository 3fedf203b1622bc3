using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// How every data-path session opens, at both ends: the connecting side sends a <see cref="Hello"/> (its identity, the
/// disks it carries, its <see cref="ProtocolVersion"/>) and waits for a <see cref="Resume"/> (where each disk resumes,
/// and the version the session speaks) or a <see cref="Refused"/> naming why. Nothing else crosses before that answer,
/// and until then a frame may be no larger than <see cref="FrameHeader.MaxControlFrame"/>: a peer that has not said who
/// it is cannot make the receiver allocate a delta's worth of memory, nor hold a session open by saying nothing.
/// </summary>
public static class SessionHandshake
{
    /// <summary>
    /// How long an accepted connection may take to say hello. Not an operator's setting: every component says hello
    /// right after connecting, so a connection silent this long is not one of them.
    /// </summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The connecting end: says <paramref name="hello"/> (at this side's <see cref="ProtocolVersion.Current"/>) on
    /// <paramref name="write"/>, flushes it, and reads exactly the answer from <paramref name="read"/> (nothing after it,
    /// so the caller's reader starts at the next frame). Throws <see cref="InvalidDataException"/> when
    /// <paramref name="peer"/> refuses or answers anything but resume, <see cref="IOException"/> when it closes.
    /// </summary>
    /// <remarks><paramref name="writer"/>: signs the hello at a new epoch (raised and durable before it is sent).</remarks>
    public static async Task<Resume> OpenAsync(Stream write, Stream read, Hello hello, string peer, CancellationToken ct, WriterIdentity? writer = null)
    {
        hello = hello with { Version = ProtocolVersion.Current };
        if (writer is not null) hello = writer.Sign(hello);
        await FrameIo.WriteAsync(write, FrameType.Control, hello.ToBytes(), ct).ConfigureAwait(false);
        await write.FlushAsync(ct).ConfigureAwait(false);
        var first = await FrameIo.ReadAsync(read, ct, FrameHeader.MaxControlFrame).ConfigureAwait(false);
        var answer = first is { Type: FrameType.Control } control ? ControlMessage.Parse(control.Body) : null;
        return Answered(answer, first is null, peer, hello);
    }

    /// <summary>
    /// The answer to a hello, checked the same way by the async and the blocking (<see cref="ControlChannel"/>) ends:
    /// the resume, or the exception naming what <paramref name="peer"/> did instead.
    /// </summary>
    public static Resume Answered(ControlMessage? answer, bool closed, string peer, Hello hello)
    {
        var what = hello.Disks.Count == 0 ? "the control connection" : hello.Disks.Count == 1 ? $"disk {hello.Disks[0].DiskId}" : $"disks {string.Join(", ", hello.Disks.Select(d => d.DiskId))}";
        if (closed) throw new IOException($"{peer} closed the connection before answering the hello for {what}");
        return answer switch
        {
            Refused r => throw new InvalidDataException($"{peer} refused {what}: {r.Reason}"),
            Resume r when ProtocolVersion.Problem(r.Version, peer) is { } problem => throw new InvalidDataException($"{peer} answered the hello for {what}, but {problem}"),
            Resume r => r,
            _ => throw new InvalidDataException($"{peer} answered the hello for {what} with something other than resume"),
        };
    }

    /// <summary>
    /// The accepting end: reads the first frame through <paramref name="reader"/> (bounded to a control frame) and returns
    /// the hello when it can be served. Otherwise it has answered <see cref="Refused"/> naming why (not a hello, a
    /// protocol version outside this side's, no identity) through <paramref name="send"/>, and returns null; null also
    /// when the peer closed before saying anything. Throws <see cref="TimeoutException"/> when nothing came within
    /// <paramref name="helloTimeout"/> (<see cref="HelloTimeout"/> unless a test says otherwise). The reader keeps the small bound: the caller raises it once it has accepted the hello.
    /// On a certified connection (<paramref name="hop"/>'s peer) the hello must name the certificate's component as its
    /// source: a refusal otherwise, logged as a security event.
    /// </summary>
    public static async Task<Hello?> AcceptAsync(FrameReader reader, Func<ControlMessage, CancellationToken, Task> send, CancellationToken ct, TimeSpan? helloTimeout = null,
        HopConnection? hop = null)
    {
        var timeout = helloTimeout ?? hop?.HelloTimeLeft ?? HelloTimeout;
        reader.MaxFrame = FrameHeader.MaxControlFrame;
        (FrameType Type, byte[] Body)? first;
        using (var silent = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            silent.CancelAfter(timeout);
            try { first = await reader.ReadAsync(silent.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"no hello within {timeout.TotalSeconds:0.#} s of connecting");
            }
        }
        if (first is null) return null;
        var hello = first.Value.Type == FrameType.Control ? ControlMessage.Parse(first.Value.Body) as Hello : null;
        var refusal = hello is null ? "the first frame must be a hello"
            : string.IsNullOrWhiteSpace(hello.SourceId) ? "the hello names no source"
            : ProtocolVersion.Problem(hello.Version, hello.SourceId);
        if (refusal is null && hop?.Peer is { } peer && hello!.SourceId != peer.Id)
        {
            refusal = $"the hello names source {hello.SourceId}, but the certificate is for {peer} ({HopRefusal.NotTheCertifiedComponent})";
            hop.ReportRefusal(refusal);
        }
        if (refusal is null) return hello;
        await send(new Refused(refusal), ct).ConfigureAwait(false);
        return null;
    }

    /// <summary>The answer to an accepted hello: where each disk resumes, in the version both sides speak.</summary>
    public static Resume ResumeFor(Hello hello, IReadOnlyDictionary<string, long> durableThrough) =>
        new(durableThrough, Math.Min(hello.Version, ProtocolVersion.Current));
}

using System.Net.Security;

namespace SiteRecovery.Connections;

/// <summary>
/// The SslStream of a TLS hop: each write of its caller is encrypted record by record as SslStream does, the records
/// gathered beneath it by <see cref="TlsTransport"/> and sent in a few large sends when the write is done. So a write is
/// on the wire when it returns (no caller needs to flush, as with SslStream on the socket), and what SslStream writes on
/// its own (the handshake, alerts, a key update) is never held back: gathering is on only inside a caller's write.
/// </summary>
public sealed class GatheringSslStream : SslStream
{
    readonly TlsTransport _transport;
    // Depth of the caller's write calls (SslStream's own overloads may call each other): the outermost sends. One writer
    // at a time, as for every SslStream.
    int _writing;

    GatheringSslStream(TlsTransport transport) : base(transport, leaveInnerStreamOpen: false) => _transport = transport;

    /// <summary>A gathering stream over a <see cref="TlsTransport"/>; a plain SslStream over any other transport.</summary>
    public static SslStream Over(Stream transport) =>
        transport is TlsTransport gathering ? new GatheringSslStream(gathering) : new SslStream(transport, leaveInnerStreamOpen: false);

    // Each overload brackets its own base method: SslStream's overloads may call each other, and the depth counts them.

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        var outermost = Enter();
        try { await base.WriteAsync(buffer, ct).ConfigureAwait(false); }
        finally { Leave(outermost); }
        if (outermost) await _transport.FlushAsync(ct).ConfigureAwait(false);
    }

    public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        var outermost = Enter();
        try { await base.WriteAsync(buffer, offset, count, ct).ConfigureAwait(false); }
        finally { Leave(outermost); }
        if (outermost) await _transport.FlushAsync(ct).ConfigureAwait(false);
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        var outermost = Enter();
        try { base.Write(buffer, offset, count); }
        finally { Leave(outermost); }
        if (outermost) _transport.Flush();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var outermost = Enter();
        try { base.Write(buffer); }
        finally { Leave(outermost); }
        if (outermost) _transport.Flush();
    }

    /// <summary>True for the outermost write, which turns gathering on and sends what was gathered when it is done.</summary>
    bool Enter()
    {
        if (_writing++ > 0) return false;
        _transport.Gather = true;
        return true;
    }

    void Leave(bool outermost)
    {
        if (outermost) _transport.Gather = false;
        _writing--;
    }
}

using Microsoft.Win32.SafeHandles;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Tests.DataPath;

/// <summary>The real file writes and fsyncs, with the fsyncs held at a gate on demand and writes failing (EIO) past a count.</summary>
internal sealed class GatedFileIo : ISegmentFileIo
{
    readonly ManualResetEventSlim _open = new(true);
    int _waiting, _fsyncs, _writesLeft = int.MaxValue;

    public int Waiting => Volatile.Read(ref _waiting);
    public int Fsyncs => Volatile.Read(ref _fsyncs);
    public void Hold() => _open.Reset();
    public void Release() => _open.Set();
    public void FailWritesAfter(int writes) => Volatile.Write(ref _writesLeft, writes);

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset)
    {
        if (Interlocked.Decrement(ref _writesLeft) < 0) throw new IOException("Input/output error (EIO injected into write)");
        RealSegmentFileIo.Instance.Write(file, bytes, offset);
    }

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> header, ReadOnlySpan<byte> record, long offset)
    {
        if (Interlocked.Decrement(ref _writesLeft) < 0) throw new IOException("Input/output error (EIO injected into write)");
        RealSegmentFileIo.Instance.Write(file, header, record, offset);
    }

    public void FlushToDisk(SafeFileHandle file)
    {
        Interlocked.Increment(ref _waiting);
        _open.Wait();
        Interlocked.Decrement(ref _waiting);
        RealSegmentFileIo.Instance.FlushToDisk(file);
        Interlocked.Increment(ref _fsyncs);
    }
}

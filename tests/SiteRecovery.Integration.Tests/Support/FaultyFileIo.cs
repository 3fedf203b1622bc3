using Microsoft.Win32.SafeHandles;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Tests.Support;

/// <summary>
/// The real file writes of a segment log, with EIO injected on demand: while <see cref="FailWrites"/> or
/// <see cref="FailFsyncs"/> is set, every write or fsync throws as the kernel's EIO would surface, and nothing reaches
/// the file. Cleared, it is the real file again.
/// </summary>
public sealed class FaultyFileIo : ISegmentFileIo
{
    volatile bool _failWrites;
    volatile bool _failFsyncs;
    int _failed;

    public bool FailWrites { get => _failWrites; set => _failWrites = value; }
    public bool FailFsyncs { get => _failFsyncs; set => _failFsyncs = value; }
    /// <summary>Writes and fsyncs refused so far.</summary>
    public int Failed => Volatile.Read(ref _failed);

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset)
    {
        if (_failWrites) Fail("write");
        RealSegmentFileIo.Instance.Write(file, bytes, offset);
    }

    public void FlushToDisk(SafeFileHandle file)
    {
        if (_failFsyncs) Fail("fsync");
        RealSegmentFileIo.Instance.FlushToDisk(file);
    }

    void Fail(string what)
    {
        Interlocked.Increment(ref _failed);
        throw new IOException($"Input/output error (EIO injected into {what})");
    }
}

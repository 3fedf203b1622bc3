using Azure;
using Azure.Storage;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// A point's page-blob snapshot read in place as the base of a point-in-time view (<see cref="IPointBase"/>): the disk's
/// bytes without the footer, fetched in segments of <see cref="SegmentBytes"/>.
/// <para>Why so: a view reads the base wherever the journal holds no later record, often in small pieces (an NBD client's
/// reads, the gaps between extents), and a materializer reads it block after block; each request costs a round trip, so
/// whole segments are fetched and the last few kept. The snapshot's page ranges are listed once when it is opened (a
/// snapshot never changes), so a block no page of which was ever written reads as zeroes without a request.</para>
/// <para>Read-ahead: a reader going forward (it asks for the segment it read last or the next written one after it: a
/// materializer, an NBD client copying the disk) has the next <c>readAhead</c> written segments fetched at once, each on
/// its own thread, while it consumes the current one; at most <c>readAhead</c> + 1 requests are in flight per base. It
/// changes only when bytes arrive, never which bytes a read returns or the order a materializer applies them in (the
/// base first, then the journal's records): a reader still waits for the segment it asked for, and a fetched segment is
/// the snapshot's, which never changes. A random reader (a booting guest) gets no read-ahead, so it costs no
/// bandwidth it does not use.</para>
/// <para>Verification: every segment is downloaded with a transfer checksum (MD5 of the range, computed by the service and
/// checked by the SDK; the service computes it for ranges up to 4 MiB, hence the segment's size), so a damaged transfer
/// throws rather than reaching a recovered image. A failed fetch is forgotten, so a later read asks again.</para>
/// </summary>
internal sealed class PageBlobSnapshotBase : IPointBase
{
    const int BlockSize = BaseImage.BlockSize;
    /// <summary>The largest range Azure returns an MD5 for.</summary>
    const int SegmentBytes = 4 << 20;
    const int BlocksPerSegment = SegmentBytes / BlockSize;
    // Segments kept behind a reader: a materializer's current one, an NBD client's re-reads and a view's neighbouring gaps.
    const int CachedSegments = 4;
    static readonly byte[] ZeroBlock = new byte[BlockSize];

    readonly BlobBaseClient _snapshot;
    readonly bool[] _written;
    readonly string _what;
    readonly string _diskId;
    readonly string _blobName;
    readonly int _readAhead;
    // Segments fetched or being fetched, and the order they were asked for in (the oldest is dropped first): under its own lock.
    readonly Dictionary<int, Task<byte[]>> _segments = [];
    readonly Queue<int> _segmentOrder = new();
    int _lastRead = -1;

    PageBlobSnapshotBase(BlobBaseClient snapshot, long size, bool[] written, int readAhead, string diskId, string blobName, string what)
    {
        _snapshot = snapshot;
        _readAhead = readAhead;
        Size = size;
        _written = written;
        _diskId = diskId;
        _blobName = blobName;
        _what = what;
    }

    public long Size { get; }
    public int BlockCount => _written.Length;

    /// <summary>
    /// Lists the snapshot's written pages (refused with a named <see cref="PageBlobReplicaException"/> when it is gone);
    /// <paramref name="readAhead"/> segments are fetched ahead of a reader going forward (0: none).
    /// </summary>
    public static async Task<PageBlobSnapshotBase> OpenAsync(PageBlobClient blob, PointSnapshot snapshot, long size, int readAhead, string diskId, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(readAhead);
        var blobName = $"{blob.BlobContainerName}/{blob.Name}";
        var what = $"snapshot {snapshot.Snapshot} of point '{snapshot.Point}' at #{snapshot.Sequence}";
        var written = new bool[(int)((size + BlockSize - 1) / BlockSize)];
        try
        {
            var options = new GetPageRangesOptions { Snapshot = snapshot.Snapshot, Range = new HttpRange(0, size) };
            await foreach (var range in blob.GetAllPageRangesAsync(options, ct).ConfigureAwait(false))
            {
                if (range.IsClear || range.Range.Length is not { } length || length <= 0) continue;
                var first = range.Range.Offset / BlockSize;
                var last = Math.Min(size, range.Range.Offset + length) - 1;
                for (var b = first; b <= last / BlockSize; b++) written[b] = true;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(diskId, blobName, $"list the pages of {what}", e);
        }
        return new PageBlobSnapshotBase(blob.WithSnapshot(snapshot.Snapshot), size, written, readAhead, diskId, blobName, what);
    }

    public void Read(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset + buffer.Length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"read {offset}..{offset + buffer.Length} is outside {_what}'s {Size} bytes");
        while (buffer.Length > 0)
        {
            var block = (int)(offset / BlockSize);
            var inBlock = (int)(offset - (long)block * BlockSize);
            var n = Math.Min(buffer.Length, BlockLength(block) - inBlock);
            BlockBytes(block).Span.Slice(inBlock, n).CopyTo(buffer);
            buffer = buffer[n..];
            offset += n;
        }
    }

    public int ReadBlock(int block, Span<byte> buffer)
    {
        var len = BlockLength(block);
        BlockBytes(block).Span[..len].CopyTo(buffer);
        return len;
    }

    int BlockLength(int block) => (int)Math.Min(BlockSize, Size - (long)block * BlockSize);

    /// <summary>The bytes of <paramref name="block"/>: zeroes when never written, else from its segment (fetched when not kept).</summary>
    ReadOnlyMemory<byte> BlockBytes(int block)
    {
        var len = BlockLength(block);
        if (!_written[block]) return ZeroBlock.AsMemory(0, len);
        var segment = block / BlocksPerSegment;
        return Segment(segment).AsMemory((block - segment * BlocksPerSegment) * BlockSize, len);
    }

    int SegmentCount => (_written.Length + BlocksPerSegment - 1) / BlocksPerSegment;

    /// <summary>Whether any block of <paramref name="segment"/> was ever written (else it reads as zeroes, with no request).</summary>
    bool SegmentWritten(int segment) =>
        _written.AsSpan(segment * BlocksPerSegment, Math.Min(BlocksPerSegment, _written.Length - segment * BlocksPerSegment)).Contains(true);

    /// <summary>The first written segment after <paramref name="segment"/>, or <see cref="SegmentCount"/>.</summary>
    int NextWritten(int segment)
    {
        var next = segment + 1;
        while (next < SegmentCount && !SegmentWritten(next)) next++;
        return next;
    }

    byte[] Segment(int segment)
    {
        Task<byte[]> fetch;
        lock (_segments)
        {
            fetch = FetchLocked(segment);
            var forward = _lastRead >= 0 && (segment == _lastRead || segment == NextWritten(_lastRead)) || _lastRead < 0 && segment == NextWritten(-1);
            _lastRead = segment;
            if (forward)
                for (int next = NextWritten(segment), n = 0; n < _readAhead && next < SegmentCount; next = NextWritten(next), n++)
                    FetchLocked(next);
        }
        try { return fetch.GetAwaiter().GetResult(); }
        catch
        {
            lock (_segments)
                if (_segments.TryGetValue(segment, out var kept) && kept == fetch) _segments.Remove(segment);
            throw;
        }
    }

    /// <summary>
    /// The fetch of <paramref name="segment"/>, started when neither kept nor under way. Each runs the SDK's synchronous
    /// download on a thread of its own (<see cref="TaskCreationOptions.LongRunning"/>), so a reader blocked on it (the NBD
    /// server, the materializer) never waits for a thread-pool thread a busy pool has not given yet.
    /// </summary>
    Task<byte[]> FetchLocked(int segment)
    {
        if (_segments.TryGetValue(segment, out var kept)) return kept;
        var fetch = Task.Factory.StartNew(() => Download(segment), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _segments[segment] = fetch;
        _segmentOrder.Enqueue(segment);
        // The ones read ahead are the newest: what goes is behind the reader (or a fetch it no longer waits for).
        while (_segmentOrder.Count > CachedSegments + _readAhead) _segments.Remove(_segmentOrder.Dequeue());
        return fetch;
    }

    /// <summary>
    /// Downloads one segment, its MD5 checked. Synchronous: the SDK's synchronous path blocks on the socket, not on a task.
    /// </summary>
    byte[] Download(int segment)
    {
        var offset = (long)segment * SegmentBytes;
        var len = (int)Math.Min(SegmentBytes, Size - offset);
        var options = new BlobDownloadOptions
        {
            Range = new HttpRange(offset, len),
            TransferValidation = new DownloadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5, AutoValidateChecksum = true },
        };
        BinaryData content;
        try { content = _snapshot.DownloadContent(options).Value.Content; }
        catch (Exception e)
        {
            throw PageBlobReplicaException.From(_diskId, _blobName, $"read {offset}+{len} of {_what}", e);
        }
        // The SDK's buffer itself when it is exactly the segment (it usually is): no second copy of 4 MiB.
        var data = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(content.ToMemory(), out var whole) && whole.Offset == 0 && whole.Count == whole.Array!.Length
            ? whole.Array
            : content.ToArray();
        if (data.Length != len)
            throw new InvalidDataException($"disk {_diskId}: {_what} of '{_blobName}': read {offset}+{len} returned {data.Length} bytes");
        return data;
    }
}

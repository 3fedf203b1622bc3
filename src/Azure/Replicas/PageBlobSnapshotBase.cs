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
/// <para>Verification: every segment is downloaded with a transfer checksum (MD5 of the range, computed by the service and
/// checked by the SDK; the service computes it for ranges up to 4 MiB, hence the segment's size), so a damaged transfer
/// throws rather than reaching a recovered image.</para>
/// </summary>
internal sealed class PageBlobSnapshotBase : IPointBase
{
    const int BlockSize = BaseImage.BlockSize;
    /// <summary>The largest range Azure returns an MD5 for.</summary>
    const int SegmentBytes = 4 << 20;
    const int BlocksPerSegment = SegmentBytes / BlockSize;
    // Segments kept: a materializer's current one, an NBD client's read-ahead and a view's neighbouring gaps.
    const int CachedSegments = 4;
    static readonly byte[] ZeroBlock = new byte[BlockSize];

    readonly BlobBaseClient _snapshot;
    readonly bool[] _written;
    readonly string _what;
    readonly string _diskId;
    readonly string _blobName;
    readonly Dictionary<int, byte[]> _cache = [];
    readonly Queue<int> _cacheOrder = new();

    PageBlobSnapshotBase(BlobBaseClient snapshot, long size, bool[] written, string diskId, string blobName, string what)
    {
        _snapshot = snapshot;
        Size = size;
        _written = written;
        _diskId = diskId;
        _blobName = blobName;
        _what = what;
    }

    public long Size { get; }
    public int BlockCount => _written.Length;

    /// <summary>Lists the snapshot's written pages (refused with a named <see cref="PageBlobReplicaException"/> when it is gone).</summary>
    public static async Task<PageBlobSnapshotBase> OpenAsync(PageBlobClient blob, PointSnapshot snapshot, long size, string diskId, CancellationToken ct)
    {
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
        return new PageBlobSnapshotBase(blob.WithSnapshot(snapshot.Snapshot), size, written, diskId, blobName, what);
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

    byte[] Segment(int segment)
    {
        lock (_cache)
            if (_cache.TryGetValue(segment, out var hit)) return hit;
        var data = Download(segment);
        lock (_cache)
        {
            if (_cache.TryAdd(segment, data))
            {
                _cacheOrder.Enqueue(segment);
                if (_cacheOrder.Count > CachedSegments) _cache.Remove(_cacheOrder.Dequeue());
            }
        }
        return data;
    }

    /// <summary>
    /// Downloads one segment, its MD5 checked. Synchronous: a view's reads are (the NBD server and the materializer call
    /// them off the request threads), and the SDK's synchronous path blocks on the socket, not on a task.
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
        var data = content.ToArray();
        if (data.Length != len)
            throw new InvalidDataException($"disk {_diskId}: {_what} of '{_blobName}': read {offset}+{len} returned {data.Length} bytes");
        return data;
    }
}

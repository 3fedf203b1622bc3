using System.Buffers;
using SiteRecovery.Contracts.DataPath;
using ZstdSharp;

namespace SiteRecovery.Journal.Compression;

/// <summary>
/// Turns deltas into stored records (DeltaCodec layout) with the payload zstd-compressed when that
/// saves space, and back, verifying the delta checksum on the way out. Thread-safe: zstd contexts are
/// per thread (they are expensive to create and not thread-safe), scratch buffers come from the shared pool.
/// </summary>
public sealed class DeltaCompression : IDisposable
{
    /// <summary>Level 1 is the fast end of zstd: the data path is throughput-bound, not space-bound.</summary>
    public const int DefaultLevel = 1;

    private readonly ThreadLocal<Compressor> _compressor;
    private readonly ThreadLocal<Decompressor> _decompressor;

    public DeltaCompression(int level = DefaultLevel)
    {
        if (level < -7 || level > 22) throw new ArgumentOutOfRangeException(nameof(level), level, "zstd level must be within -7..22");
        Level = level;
        // trackAllValues so Dispose can free every thread's native context.
        _compressor = new ThreadLocal<Compressor>(() => new Compressor(level), trackAllValues: true);
        _decompressor = new ThreadLocal<Decompressor>(() => new Decompressor(), trackAllValues: true);
    }

    /// <summary>The zstd level used for compression.</summary>
    public int Level { get; }

    /// <summary>
    /// Encodes <paramref name="d"/> as a stored record. When <paramref name="compress"/> is true and the
    /// delta is a write, the payload is compressed and kept compressed only if strictly smaller.
    /// </summary>
    public byte[] EncodeStored(Delta d, bool compress)
    {
        ArgumentNullException.ThrowIfNull(d);
        var scratch = Compress(d, compress, out var written);
        try
        {
            return scratch is null ? EncodeWith(d, d.Payload.Span, false) : EncodeWith(d, scratch.AsSpan(0, written), true);
        }
        finally
        {
            if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Like <see cref="EncodeStored(Delta, bool)"/> but writes into <paramref name="output"/> (e.g. a reused
    /// ArrayBufferWriter), so a hot path appending many deltas allocates nothing per record. Returns whether the
    /// stored payload is compressed.
    /// </summary>
    public bool EncodeStored(Delta d, bool compress, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(output);
        var scratch = Compress(d, compress, out var written);
        try
        {
            if (scratch is null) DeltaCodec.Encode(d, d.Payload.Span, false, output);
            else DeltaCodec.Encode(d, scratch.AsSpan(0, written), true, output);
            return scratch is not null;
        }
        finally
        {
            if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Compresses a write's payload into a pooled buffer (caller returns it), or returns null when the delta should be
    /// stored raw: not asked, not a write (bookmark ids are tiny and their inflated size is not in the header), too small
    /// to gain, or not smaller after compression.
    /// </summary>
    private byte[]? Compress(Delta d, bool compress, out int written)
    {
        written = 0;
        var payload = d.Payload.Span;
        if (!compress || d.Kind != DeltaKind.Write || payload.Length < 64) return null;
        // A destination one byte short of raw makes zstd give up early on incompressible data.
        var scratch = ArrayPool<byte>.Shared.Rent(payload.Length);
        if (_compressor.Value!.TryWrap(payload, scratch.AsSpan(0, payload.Length - 1), out written) && written < payload.Length)
            return scratch;
        ArrayPool<byte>.Shared.Return(scratch);
        written = 0;
        return null;
    }

    /// <summary>
    /// Decodes a stored record into a delta carrying its uncompressed payload (a fresh array the caller owns),
    /// and checks the delta checksum. Throws <see cref="ChecksumMismatchException"/> when the content is damaged
    /// and <see cref="DeltaFormatException"/> when the record cannot be parsed or decompressed.
    /// With <paramref name="aliasUncompressed"/> an uncompressed payload is not copied but refers to
    /// <paramref name="record"/>: for a caller that is done with the delta before it reuses the record's buffer.
    /// </summary>
    public Delta DecodeStored(ReadOnlyMemory<byte> record, bool aliasUncompressed = false)
    {
        var stored = DeltaCodec.Decode(record, out var compressed);
        Delta d;
        if (!compressed && aliasUncompressed)
        {
            d = stored;
        }
        else if (!compressed)
        {
            // Copy so the result does not pin or alias the caller's record buffer.
            d = stored with { Payload = stored.Payload.ToArray() };
        }
        else
        {
            var expected = stored.Kind == DeltaKind.Write ? stored.Length : -1;
            if (expected < 0)
            {
                ulong declared;
                try
                {
                    declared = Decompressor.GetDecompressedSize(stored.Payload.Span);
                }
                catch (ZstdException e)
                {
                    // Only a write's header carries its inflated size; any other kind's zstd frame must declare it.
                    throw new DeltaFormatException($"delta {stored.DiskId}#{stored.Sequence}: compressed {stored.Kind} payload declares no decompressed size ({e.Message})");
                }
                if (declared > DeltaCodec.MaxPayload)
                    throw new DeltaFormatException($"delta {stored.DiskId}#{stored.Sequence}: compressed payload declares {declared} bytes, above {DeltaCodec.MaxPayload}");
                expected = (int)declared;
            }
            var payload = GC.AllocateUninitializedArray<byte>(expected);
            int written;
            try
            {
                if (!_decompressor.Value!.TryUnwrap(stored.Payload.Span, payload, out written))
                    throw new ChecksumMismatchException(stored.DiskId, stored.Sequence, $"compressed payload inflates to more than the {expected} bytes its header declares");
            }
            catch (ZstdException e)
            {
                throw new ChecksumMismatchException(stored.DiskId, stored.Sequence, $"compressed payload does not decompress ({e.Message})");
            }
            if (written != expected)
                throw new ChecksumMismatchException(stored.DiskId, stored.Sequence, $"compressed payload inflates to {written} bytes, header declares {expected}");
            d = stored with { Payload = payload };
        }

        if (!d.IsIntact)
            throw new ChecksumMismatchException(d.DiskId, d.Sequence,
                $"checksum 0x{d.Checksum:x16} does not match content (computed 0x{Delta.ComputeChecksum(d.DiskId, d.Sequence, d.Kind, d.Offset, d.Length, d.Payload.Span, d.TimeUnixMs):x16})");
        return d;
    }

    private static byte[] EncodeWith(Delta d, ReadOnlySpan<byte> stored, bool compressed)
    {
        // Exact-size output: the record is handed to the log as is, so no trailing slack to trim.
        var output = GC.AllocateUninitializedArray<byte>(DeltaCodec.EncodedSize(d, stored.Length));
        var writer = new FixedBufferWriter(output);
        DeltaCodec.Encode(d, stored, compressed, writer);
        return output;
    }

    public void Dispose()
    {
        foreach (var c in _compressor.Values) c.Dispose();
        foreach (var c in _decompressor.Values) c.Dispose();
        _compressor.Dispose();
        _decompressor.Dispose();
    }

    /// <summary>An IBufferWriter over a pre-sized array, so encoding does not copy through a growable buffer.</summary>
    private sealed class FixedBufferWriter(byte[] target) : IBufferWriter<byte>
    {
        private int _position;
        public void Advance(int count) => _position += count;
        public Memory<byte> GetMemory(int sizeHint = 0) => target.AsMemory(_position);
        public Span<byte> GetSpan(int sizeHint = 0)
        {
            if (sizeHint > target.Length - _position) throw new InvalidOperationException($"encoded record needs {sizeHint} bytes, {target.Length - _position} left");
            return target.AsSpan(_position);
        }
    }
}

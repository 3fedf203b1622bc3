using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Capture;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Fuzz;

/// <summary>
/// The four fuzz targets, one per parser that takes bytes from outside. Each feeds one input to the parser and returns
/// a short outcome (what it parsed, or the named error it gave). It throws only on a bug: an exception type the parser
/// does not promise (IndexOutOfRange, Overflow, NotSupported...), a broken round trip, a range handed on unchecked, or
/// a hang. The same code runs under the fuzzer (fuzz/SiteRecovery.Fuzz links this file) and in the normal suite
/// (<see cref="CorpusTests"/>, <see cref="CrashRegressionTests"/>).
/// </summary>
public static class FuzzTargets
{
    /// <summary>Targets by the name fuzz/run.sh and the corpus folders use.</summary>
    public static readonly IReadOnlyDictionary<string, Func<byte[], string>> All = new Dictionary<string, Func<byte[], string>>
    {
        ["nbd"] = Nbd,
        ["frame"] = Frame,
        ["delta"] = DeltaRecord,
        ["regkey"] = RegistrationKey,
    };

    /// <summary>A bug the harness found (as opposed to a clean, named refusal of bad input).</summary>
    public sealed class Finding(string message) : Exception(message);

    // ---------------------------------------------------------------- nbd

    /// <summary>Name and size of the writable export the NBD target serves (a second, read-only one is "ro").</summary>
    public const string NbdExportName = "disk0";
    public const int NbdExportSize = 1 << 20;

    /// <summary>
    /// The input is everything a client sends, from its flags on: the handshake, then requests. The server's replies
    /// go nowhere; the session ends when the input does. A log line saying the connection died of an unexpected error,
    /// or an export called with a range the server should have refused, is a finding.
    /// </summary>
    public static string Nbd(byte[] input)
    {
        var log = new List<string>();
        var options = new NbdServerOptions
        {
            MaxRequest = 64 * 1024,
            MaxOptionLength = 8192,
            HandshakeTimeout = TimeSpan.FromSeconds(5),
            Log = line => { lock (log) log.Add(line); },
        };
        var exports = new Dictionary<string, INbdExport>
        {
            [NbdExportName] = new MemoryExport(NbdExportName, NbdExportSize, readOnly: false),
            ["ro"] = new MemoryExport("ro", 4096, readOnly: true),
        };
        var server = new NbdServer(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), exports, options);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var session = server.ServeAsync(new ClientBytes(input), "fuzz", cts.Token);
            if (!session.Wait(TimeSpan.FromSeconds(20))) throw new Finding("nbd session did not end after its input did");
            if (cts.IsCancellationRequested) throw new Finding("nbd session still running 10 s after its input ended");
        }
        finally
        {
            server.DisposeAsync().AsTask().Wait();
        }
        string[] lines;
        lock (log) lines = log.ToArray();
        foreach (var line in lines)
            if (line.Contains("unexpected error", StringComparison.Ordinal) || line.Contains("export failed", StringComparison.Ordinal))
                throw new Finding(line);
        return lines.Length == 0 ? "ended" : lines[^1];
    }

    /// <summary>An export in memory that checks what the server promised: every range it is handed is inside it.</summary>
    private sealed class MemoryExport(string name, int size, bool readOnly) : INbdExport
    {
        private readonly byte[] _data = new byte[size];
        public string Name => name;
        public long Size => size;
        public bool ReadOnly => readOnly;

        private Span<byte> Range(long offset, int length, bool write)
        {
            if (write && readOnly) throw new Finding($"export {name}: write reached a read-only export");
            if (offset < 0 || length < 0 || offset > size - length)
                throw new Finding($"export {name}: range {offset}+{length} outside 0..{size} reached the export");
            return _data.AsSpan((int)offset, length);
        }

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            Range(offset, buffer.Length, false).CopyTo(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
        {
            data.Span.CopyTo(Range(offset, data.Length, true));
            return ValueTask.CompletedTask;
        }

        public ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
        {
            Range(offset, length, true).Clear();
            return ValueTask.CompletedTask;
        }

        public ValueTask TrimAsync(long offset, int length, CancellationToken ct)
        {
            Range(offset, length, true).Clear();
            return ValueTask.CompletedTask;
        }

        public ValueTask FlushAsync(CancellationToken ct) => ValueTask.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A client's side of a connection: reads give the input then end-of-stream, writes are dropped.</summary>
    private sealed class ClientBytes(byte[] input) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) { }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => ValueTask.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, input.Length - _position);
            input.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span));
    }

    // ---------------------------------------------------------------- frame

    /// <summary>
    /// Byte 0 picks how the frames are read: bits 0-3 the most bytes one read returns (1..16, or unlimited for 0), bit 4
    /// the bound (control frames before a hello, or the wire's), bit 5 pooled or not, bit 6 <see cref="FrameIo.ReadAsync"/>
    /// instead of <see cref="FrameReader"/>. The rest is the stream. Every frame read is decoded as its type says (a delta
    /// record or a control message). Named errors: <see cref="InvalidDataException"/>, <see cref="EndOfStreamException"/>,
    /// <see cref="DeltaFormatException"/>.
    /// </summary>
    public static string Frame(byte[] input)
    {
        // An empty input still goes through the reader (mode 0, no bytes): SharpFuzz reads its first input before
        // afl-fuzz has always written it, and a first run that touches no instrumented code makes afl-fuzz abort with
        // "No instrumentation detected" (CI failed so once).
        var mode = input.Length > 0 ? input[0] : (byte)0;
        var chunk = mode & 0x0f;
        var maxFrame = (mode & 0x10) != 0 ? FrameHeader.MaxControlFrame : FrameIo.MaxFrame;
        var pooled = (mode & 0x20) != 0;
        var frameIo = (mode & 0x40) != 0;
        var stream = new ChunkedStream(input.Length > 0 ? input.AsMemory(1) : Memory<byte>.Empty, chunk == 0 ? int.MaxValue : chunk);
        var reader = new FrameReader(stream, 4096) { MaxFrame = maxFrame };
        var frames = 0;
        try
        {
            for (; frames < 64; frames++)
            {
                if (frameIo)
                {
                    var frame = FrameIo.ReadAsync(stream, CancellationToken.None, maxFrame).AsTask().GetAwaiter().GetResult();
                    if (frame is not { } f) return $"{frames} frames, clean end";
                    DecodeBody(f.Type, f.Body);
                }
                else if (pooled)
                {
                    using var frame = reader.ReadPooledAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult() is { } p ? p : default;
                    if (frame.Buffer is null) return $"{frames} frames, clean end";
                    DecodeBody(frame.Type, frame.Body);
                }
                else
                {
                    var frame = reader.ReadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
                    if (frame is not { } f) return $"{frames} frames, clean end";
                    DecodeBody(f.Type, f.Body);
                }
            }
            return $"{frames} frames";
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or DeltaFormatException)
        {
            return $"{frames} frames, then {e.GetType().Name}: {e.Message}";
        }
    }

    private static void DecodeBody(FrameType type, ReadOnlyMemory<byte> body)
    {
        if (type == FrameType.Control)
        {
            var message = ControlMessage.Parse(body.Span);
            if (message is null) throw new Finding("ControlMessage.Parse returned null");
            CheckWhole(message, message.GetType().Name);
            return;
        }
        var delta = DeltaCodec.Decode(body, out _);
        DeltaValidation.Check(delta, long.MaxValue, payloadCompressed: true);
    }

    /// <summary>
    /// A parsed message is whole: no member its record declares non-nullable is null, in it or in the records it holds
    /// (a receiver reads hello.Disks.Count without looking). Members of other types (collections' elements) are not walked.
    /// </summary>
    private static void CheckWhole(object value, string path)
    {
        var nullability = new System.Reflection.NullabilityInfoContext();
        foreach (var property in value.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (property.PropertyType.IsValueType || property.GetIndexParameters().Length > 0) continue;
            var member = property.GetValue(value);
            if (member is null)
            {
                if (nullability.Create(property).ReadState == System.Reflection.NullabilityState.NotNull)
                    throw new Finding($"{path}.{property.Name} is null after ControlMessage.Parse");
                continue;
            }
            if (member is System.Collections.IEnumerable items and not string)
            {
                foreach (var item in items)
                    if (item is not null && item.GetType().Namespace?.StartsWith("SiteRecovery.", StringComparison.Ordinal) == true && !item.GetType().IsValueType)
                        CheckWhole(item, $"{path}.{property.Name}[]");
            }
            else if (property.PropertyType.Namespace?.StartsWith("SiteRecovery.", StringComparison.Ordinal) == true)
            {
                CheckWhole(member, $"{path}.{property.Name}");
            }
        }
    }

    /// <summary>A read-only stream over bytes that returns at most <c>chunk</c> bytes per read, as a socket may.</summary>
    private sealed class ChunkedStream(ReadOnlyMemory<byte> data, int chunk) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(buffer.Length, chunk), data.Length - _position);
            data.Span.Slice(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span));
    }

    // ---------------------------------------------------------------- delta

    // Made on first use: instrumented code must not run before SharpFuzz has set up its coverage map.
    private static readonly Lazy<DeltaCompression> Compression = new(() => new DeltaCompression());

    /// <summary>
    /// The input is one stored delta record (as in a spool or segment file, or a delta frame's body). It is decoded,
    /// checked, re-encoded (it must come back byte for byte), then decoded with its payload inflated and its checksum
    /// verified. So the fuzzer gets past the checksum, a record that decodes has its checksum set right and goes
    /// through once more, and must then come out whole. Named errors: <see cref="DeltaFormatException"/>,
    /// <see cref="ChecksumMismatchException"/>.
    /// </summary>
    public static string DeltaRecord(byte[] input)
    {
        Delta stored;
        bool compressed;
        try
        {
            stored = DeltaCodec.Decode(input, out compressed);
        }
        catch (DeltaFormatException e)
        {
            return $"DeltaFormatException: {e.Message}";
        }
        var violation = DeltaValidation.Check(stored, long.MaxValue, compressed);

        var idBytes = input.AsSpan(DeltaCodec.FixedHeaderSize, input[3]);
        if (Utf8.IsValid(idBytes))
        {
            var again = new ArrayBufferWriter<byte>();
            DeltaCodec.Encode(stored, stored.Payload.Span, compressed, again);
            if (!again.WrittenSpan.SequenceEqual(input)) throw new Finding("a decoded delta record does not encode back to the same bytes");
        }

        var first = Inflate(input);
        if (first.Delta is not null) return $"intact {stored.Kind} #{stored.Sequence}{(violation is null ? "" : $", refused: {violation}")}";
        if (first.Payload is null || !Utf8.IsValid(idBytes)) return first.Error!;

        // Set the checksum right for the inflated payload; the record must then decode whole.
        var fixedUp = (byte[])input.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(fixedUp.AsSpan(32),
            Delta.ComputeChecksum(stored.DiskId, stored.Sequence, stored.Kind, stored.Offset, stored.Length, first.Payload, stored.TimeUnixMs));
        var second = Inflate(fixedUp);
        if (second.Delta is null) throw new Finding($"a record whose checksum was set right still fails: {second.Error}");
        if (!second.Delta.Payload.Span.SequenceEqual(first.Payload)) throw new Finding("a record inflated twice gave two payloads");
        return $"intact after checksum fix {stored.Kind} #{stored.Sequence}";
    }

    private readonly record struct Inflated(Delta? Delta, byte[]? Payload, string? Error);

    private static Inflated Inflate(byte[] record)
    {
        try
        {
            return new Inflated(Compression.Value.DecodeStored(record), null, null);
        }
        catch (ChecksumMismatchException e)
        {
            // The payload as it inflates, when only the checksum is wrong (the one error the fix-up can cure).
            byte[]? payload = null;
            if (e.Message.Contains("does not match content", StringComparison.Ordinal))
            {
                var stored = DeltaCodec.Decode(record, out var compressed);
                payload = compressed ? InflateOnly(stored) : stored.Payload.ToArray();
            }
            return new Inflated(null, payload, $"ChecksumMismatchException: {e.Message}");
        }
        catch (DeltaFormatException e)
        {
            return new Inflated(null, null, $"DeltaFormatException: {e.Message}");
        }
    }

    private static byte[] InflateOnly(Delta stored)
    {
        using var d = new ZstdSharp.Decompressor();
        return d.Unwrap(stored.Payload.Span).ToArray();
    }

    // ---------------------------------------------------------------- regkey

    /// <summary>The vault and secret the registration-key target checks keys against.</summary>
    public const string Vault = "vault-a";
    public static readonly string Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    /// <summary>
    /// The input is a registration key as typed (UTF-8). It is parsed and validated against one vault; a key that
    /// parses must come back the same from <see cref="RegistrationKeys.Sign"/> with its own fields once re-signed.
    /// Never throws: malformed keys give a problem text, bad ones a named refusal.
    /// </summary>
    public static string RegistrationKey(byte[] input)
    {
        var key = Encoding.UTF8.GetString(input);
        var fields = RegistrationKeys.TryParse(key, out var problem);
        var refusal = RegistrationKeys.Validate(key, 1_800_000_000_000, Vault, Secret, keysIssued: 10, new HashSet<long> { 3 }, out _);
        if (fields is null)
        {
            if (refusal is null) throw new Finding("a key that does not parse was accepted");
            if (string.IsNullOrEmpty(problem)) throw new Finding("a key that does not parse has no problem text");
            return $"malformed: {problem}";
        }
        var resigned = RegistrationKeys.Sign(fields.VaultName, fields.KeyId, fields.IssuedAtUnixMs, fields.ExpiresAtUnixMs, Secret);
        var back = RegistrationKeys.TryParse(resigned, out var backProblem)
                   ?? throw new Finding($"a re-signed key does not parse: {backProblem}");
        if (back with { Signature = fields.Signature } != fields) throw new Finding("a re-signed key parses to other fields");
        return refusal is null ? "valid" : $"{refusal.Reason}";
    }
}

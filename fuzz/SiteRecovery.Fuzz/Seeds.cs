using System.Buffers.Binary;
using System.Text;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Fuzz;

/// <summary>
/// The seed corpus: small, valid inputs of each target, written by `SiteRecovery.Fuzz seeds &lt;folder&gt;` into
/// &lt;folder&gt;/&lt;target&gt;/. fuzz/corpus was made with it; the fuzzer grows its own queue from these.
/// </summary>
public static class Seeds
{
    public static void Write(string root)
    {
        foreach (var (target, files) in All())
        {
            var dir = Path.Combine(root, target);
            Directory.CreateDirectory(dir);
            foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
        }
    }

    private static IEnumerable<(string Target, (string Name, byte[] Bytes)[] Files)> All()
    {
        yield return ("nbd", [
            ("go-then-io", Nbd(w =>
            {
                ClientFlags(w, 3);
                Option(w, NbdOption.Go, InfoRequest(FuzzTargets.NbdExportName, NbdInfoType.BlockSize));
                Request(w, NbdCommand.Write, 1, 0, 512);
                w.Write(Enumerable.Range(0, 512).Select(i => (byte)i).ToArray());
                Request(w, NbdCommand.Read, 2, 0, 512);
                Request(w, NbdCommand.Flush, 3, 0, 0);
                Request(w, NbdCommand.Trim, 4, 4096, 4096);
                Request(w, NbdCommand.WriteZeroes, 5, 8192, 4096);
                Request(w, NbdCommand.Disconnect, 6, 0, 0);
            })),
            ("list-info-exportname", Nbd(w =>
            {
                ClientFlags(w, 1);
                Option(w, NbdOption.List, []);
                Option(w, NbdOption.Info, InfoRequest("ro", NbdInfoType.Name));
                Option(w, NbdOption.ExportName, Encoding.UTF8.GetBytes("ro"));
                Request(w, NbdCommand.Read, 1, 0, 4096);
                Request(w, NbdCommand.Write, 2, 0, 1);
                w.WriteByte(0xaa);
                Request(w, NbdCommand.Disconnect, 3, 0, 0);
            })),
            ("abort", Nbd(w =>
            {
                ClientFlags(w, 3);
                Option(w, NbdOption.StructuredReply, []);
                Option(w, NbdOption.Abort, []);
            })),
        ]);

        var write = Delta.Create("disk-1", 7, DeltaKind.Write, 4096, 512, Enumerable.Range(0, 512).Select(i => (byte)(i * 7)).ToArray(), 1_700_000_000_000);
        var zeroes = Delta.Create("disk-1", 8, DeltaKind.Zero, 0, 65536, ReadOnlyMemory<byte>.Empty, 1_700_000_000_001);
        var trim = Delta.Create("disk-1", 9, DeltaKind.Trim, 65536, 4096, ReadOnlyMemory<byte>.Empty, 1_700_000_000_002);
        var bookmark = Delta.Bookmark("disk-1", 10, "group:app-consistent-1", 1_700_000_000_003);
        var compressible = Delta.Create("disk-2", 1, DeltaKind.Write, 0, 4096, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("siterecovery ", 316))).AsMemory(0, 4096), 1_700_000_000_004);
        using var compression = new DeltaCompression();
        yield return ("delta", [
            ("write", DeltaCodec.Encode(write)),
            ("write-zstd", compression.EncodeStored(compressible, compress: true)),
            ("zero", DeltaCodec.Encode(zeroes)),
            ("trim", DeltaCodec.Encode(trim)),
            ("bookmark", DeltaCodec.Encode(bookmark)),
        ]);

        var hello = new Hello("agent-1", [new DiskOffer("disk-1", 1 << 30, "vm-1")], ProtocolVersion.Current).ToBytes();
        var ack = new Ack("disk-1", 9).ToBytes();
        yield return ("frame", [
            ("hello-delta-ack", Frames(0x00, (FrameType.Control, hello), (FrameType.Delta, DeltaCodec.Encode(write)), (FrameType.Control, ack))),
            ("chunked-control-bound", Frames(0x13, (FrameType.Control, hello), (FrameType.Delta, DeltaCodec.Encode(bookmark)))),
            ("pooled", Frames(0x25, (FrameType.Delta, DeltaCodec.Encode(zeroes)), (FrameType.Control, ack))),
            ("frameio", Frames(0x40, (FrameType.Control, hello), (FrameType.Delta, compression.EncodeStored(compressible, compress: true)))),
        ]);

        const long issued = 1_799_900_000_000;
        yield return ("regkey", [
            ("valid", Key(FuzzTargets.Vault, 2, issued, issued + RegistrationKeys.ValidityMs)),
            ("expired", Key(FuzzTargets.Vault, 4, 1_700_000_000_000, 1_700_000_000_000 + RegistrationKeys.ValidityMs)),
            ("revoked", Key(FuzzTargets.Vault, 3, issued, issued + RegistrationKeys.ValidityMs)),
            ("foreign-vault", Key("vault-b", 1, issued, issued + RegistrationKeys.ValidityMs)),
        ]);
    }

    private static byte[] Key(string vault, long id, long issued, long expires) =>
        Encoding.UTF8.GetBytes(RegistrationKeys.Sign(vault, id, issued, expires, FuzzTargets.Secret));

    private static byte[] Nbd(Action<MemoryStream> write)
    {
        using var w = new MemoryStream();
        write(w);
        return w.ToArray();
    }

    private static void ClientFlags(MemoryStream w, uint flags) => w.Write(BigEndian(4, s => BinaryPrimitives.WriteUInt32BigEndian(s, flags)));

    private static void Option(MemoryStream w, NbdOption option, byte[] data)
    {
        w.Write(BigEndian(16, s =>
        {
            BinaryPrimitives.WriteUInt64BigEndian(s, NbdMagic.Option);
            BinaryPrimitives.WriteUInt32BigEndian(s[8..], (uint)option);
            BinaryPrimitives.WriteUInt32BigEndian(s[12..], (uint)data.Length);
        }));
        w.Write(data);
    }

    private static byte[] InfoRequest(string name, params NbdInfoType[] types)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var data = new byte[4 + nameBytes.Length + 2 + 2 * types.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)nameBytes.Length);
        nameBytes.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 + nameBytes.Length), (ushort)types.Length);
        for (var i = 0; i < types.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6 + nameBytes.Length + 2 * i), (ushort)types[i]);
        return data;
    }

    private static void Request(MemoryStream w, NbdCommand command, ulong cookie, ulong offset, uint length) =>
        w.Write(BigEndian(NbdRequest.HeaderLength, s =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(s, NbdMagic.Request);
            BinaryPrimitives.WriteUInt16BigEndian(s[4..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(s[6..], (ushort)command);
            BinaryPrimitives.WriteUInt64BigEndian(s[8..], cookie);
            BinaryPrimitives.WriteUInt64BigEndian(s[16..], offset);
            BinaryPrimitives.WriteUInt32BigEndian(s[24..], length);
        }));

    private delegate void SpanWriter(Span<byte> span);

    private static byte[] BigEndian(int size, SpanWriter write)
    {
        var bytes = new byte[size];
        write(bytes);
        return bytes;
    }

    private static byte[] Frames(byte mode, params (FrameType Type, byte[] Body)[] frames)
    {
        using var w = new MemoryStream();
        w.WriteByte(mode);
        foreach (var (type, body) in frames)
        {
            var header = new byte[FrameHeader.Size];
            FrameHeader.Write(header, body.Length, type);
            w.Write(header);
            w.Write(body);
        }
        return w.ToArray();
    }
}

namespace SiteRecovery.Capture.Nbd;

/// <summary>Pure semantic checks of a parsed request against an export's size and mode.</summary>
public static class NbdRequestValidator
{
    /// <summary>Command flags this server accepts on any command.</summary>
    public const NbdCommandFlags SupportedFlags = NbdCommandFlags.Fua;

    /// <summary>Command flags this server accepts on <paramref name="command"/>.</summary>
    /// <remarks>
    /// FUA must be accepted on every command once advertised; NO_HOLE is documented for WRITE_ZEROES only,
    /// and a flag the protocol does not document for a command gets NBD_EINVAL.
    /// </remarks>
    public static NbdCommandFlags SupportedFlagsFor(NbdCommand command) =>
        command == NbdCommand.WriteZeroes ? SupportedFlags | NbdCommandFlags.NoHole : SupportedFlags;

    /// <summary>Decides whether <paramref name="r"/> may run, and if not which error to reply and how to recover.</summary>
    public static NbdValidation Validate(in NbdRequest r, long exportSize, bool readOnly, int maxRequest)
    {
        // DISC has no reply and nothing follows it, so an error for its flags could never be acted on: it always closes.
        if (r.Command == NbdCommand.Disconnect) return NbdValidation.Ok;
        var isWrite = r.Command == NbdCommand.Write;
        if (isWrite && r.Length > (uint)maxRequest)
        {
            var portable = CanDiscardPayload(r.Length);
            return new(NbdError.Inval, portable, !portable, $"write of {r.Length} bytes exceeds the maximum request size {maxRequest}");
        }
        if ((r.Flags & ~SupportedFlagsFor(r.Command)) != 0)
            return new(NbdError.Inval, isWrite, false, $"unsupported command flags 0x{(ushort)r.Flags:x}");
        switch (r.Command)
        {
            case NbdCommand.Read:
                if (r.Length > (uint)maxRequest)
                    return new(NbdError.Inval, false, false, $"read of {r.Length} bytes exceeds the maximum request size {maxRequest}");
                return InRange(r, exportSize) ? NbdValidation.Ok : new(NbdError.Inval, false, false, "read past the end of the export");
            case NbdCommand.Write:
            case NbdCommand.WriteZeroes:
                if (readOnly) return new(NbdError.Perm, isWrite, false, "export is read-only");
                return InRange(r, exportSize) ? NbdValidation.Ok : new(NbdError.NoSpc, isWrite, false, "write past the end of the export");
            case NbdCommand.Trim:
                if (readOnly) return new(NbdError.Perm, false, false, "export is read-only");
                return InRange(r, exportSize) ? NbdValidation.Ok : new(NbdError.Inval, false, false, "trim past the end of the export");
            case NbdCommand.Flush:
                return NbdValidation.Ok;
            default:
                return new(NbdError.Inval, false, false, $"unsupported command {(ushort)r.Command}");
        }
    }

    /// <summary>
    /// Whether a refused write's payload is read and dropped so the connection stays in step. A client that never
    /// asked for block sizes may send up to 2^25 bytes, which must get a clean error; beyond that the client broke
    /// the protocol and dropping it costs a hang-up.
    /// </summary>
    public static bool CanDiscardPayload(uint length) => length <= NbdBlockSizes.PortableMaximum;

    private static bool InRange(in NbdRequest r, long exportSize)
    {
        var size = (ulong)Math.Max(0, exportSize);
        return r.Offset <= size && r.Length <= size - r.Offset;
    }
}

using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Contracts.Storage;

/// <summary>
/// Two spans written at one file offset with one <c>pwritev</c>, straight from where they are: a record's frame header
/// and its bytes reach the page cache without first being copied together into a buffer. .NET's
/// <see cref="RandomAccess"/> gathers only <see cref="ReadOnlyMemory{T}"/>, which a caller holding spans cannot give.
/// Off Linux, two positional writes.
/// </summary>
public static unsafe partial class GatherWrite
{
    private const int EINTR = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>Writes all of <paramref name="first"/> then all of <paramref name="second"/> at <paramref name="offset"/>, or throws.</summary>
    public static void Write(SafeFileHandle file, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, long offset)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.Write(file, first, offset);
            RandomAccess.Write(file, second, offset + first.Length);
            return;
        }
        fixed (byte* a = first)
        fixed (byte* b = second)
        {
            var iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = a, Length = (nuint)first.Length };
            iov[1] = new IoVec { Base = b, Length = (nuint)second.Length };
            var at = iov;
            var count = 2;
            while (count > 0)
            {
                var n = pwritev(file, at, count, offset);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    throw new IOException($"pwritev of {first.Length + second.Length} bytes at offset {offset} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
                }
                if (n == 0) throw new IOException($"pwritev at offset {offset} wrote nothing");
                offset += n;
                // A short write (a signal, a full disk on the way): go on from the first byte not written.
                while (count > 0 && (nuint)n >= at->Length)
                {
                    n -= (nint)at->Length;
                    at++;
                    count--;
                }
                if (count > 0)
                {
                    at->Base += n;
                    at->Length -= (nuint)n;
                }
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "pwritev", SetLastError = true)]
    private static partial nint pwritev(SafeFileHandle fd, IoVec* iov, int iovcnt, long offset);
}

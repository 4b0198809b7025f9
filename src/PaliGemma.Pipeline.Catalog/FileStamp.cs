using System.Runtime.InteropServices;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// What the file system says about a file without opening it: size, modification time in nanoseconds, and its
/// identity (device and inode). Two equal stamps mean "same file, not rewritten", up to the blind spot documented on
/// <see cref="LocalHashCache"/>.
/// </summary>
/// <param name="Size">Size in bytes.</param>
/// <param name="MtimeNs">Modification time, nanoseconds since the Unix epoch.</param>
/// <param name="Device">Device id (major &lt;&lt; 32 | minor); 0 where the platform does not report it without opening the file.</param>
/// <param name="Inode">Inode number; 0 where the platform does not report it without opening the file.</param>
/// <param name="IsLink">The path itself is a symbolic link (the other fields then describe its target).</param>
internal readonly partial record struct FileStamp(long Size, long MtimeNs, ulong Device, ulong Inode, bool IsLink)
{
    /// <summary>
    /// Reads the stamp of <paramref name="path"/> with one statx(2) call on Linux (following a final link for the
    /// figures, and reporting whether there was one), or from <see cref="FileInfo"/> elsewhere. Null when the file is gone.
    /// </summary>
    public static FileStamp? Read(string path)
    {
        if (Statx.Available)
        {
            if (!Statx.TryRead(path, follow: false, out var own, out var missing))
            {
                return missing ? null : FromFileInfo(path);
            }

            if (!own.IsLink)
            {
                return own;
            }

            return Statx.TryRead(path, follow: true, out var target, out missing) ? target with { IsLink = true } : missing ? null : FromFileInfo(path);
        }

        return FromFileInfo(path);
    }

    private static FileStamp? FromFileInfo(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return null;
        }

        var isLink = info.LinkTarget is not null;
        if (isLink && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target)
        {
            info = target;
        }

        var mtime = (info.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100;
        return new FileStamp(info.Length, mtime, 0, 0, isLink);
    }

    /// <summary>statx(2) through libc: one system call, fixed layout on every Linux architecture.</summary>
    private static partial class Statx
    {
        private const int AtFdCwd = -100;
        private const int AtSymlinkNoFollow = 0x100;
        private const uint StatxBasicStats = 0x7ff;
        private const int SIfMt = 0xF000;
        private const int SIfLnk = 0xA000;
        private const int ENoEnt = 2;
        private const int ENotDir = 20;

        public static readonly bool Available = OperatingSystem.IsLinux() && Probe();

        public static bool TryRead(string path, bool follow, out FileStamp stamp, out bool missing)
        {
            stamp = default;
            missing = false;
            if (NativeStatx(AtFdCwd, path, follow ? 0 : AtSymlinkNoFollow, StatxBasicStats, out var buffer) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                missing = errno is ENoEnt or ENotDir;
                return false;
            }

            stamp = new FileStamp(
                (long)buffer.Size,
                (buffer.MtimeSeconds * 1_000_000_000L) + buffer.MtimeNanoseconds,
                ((ulong)buffer.DevMajor << 32) | buffer.DevMinor,
                buffer.Inode,
                (buffer.Mode & SIfMt) == SIfLnk);
            return true;
        }

        private static bool Probe()
        {
            try
            {
                return NativeStatx(AtFdCwd, "/", 0, StatxBasicStats, out _) == 0;
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                // A libc without statx (glibc before 2.28): FileInfo gives size and mtime, without the file id.
                return false;
            }
        }

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int NativeStatx(int dirfd, string path, int flags, uint mask, out StatxBuffer buffer);

        // struct statx from <linux/stat.h>: the same 256 bytes on every architecture.
        [StructLayout(LayoutKind.Explicit, Size = 256)]
        private struct StatxBuffer
        {
            [FieldOffset(28)] public ushort Mode;
            [FieldOffset(32)] public ulong Inode;
            [FieldOffset(40)] public ulong Size;
            [FieldOffset(112)] public long MtimeSeconds;
            [FieldOffset(120)] public uint MtimeNanoseconds;
            [FieldOffset(136)] public uint DevMajor;
            [FieldOffset(140)] public uint DevMinor;
        }
    }
}

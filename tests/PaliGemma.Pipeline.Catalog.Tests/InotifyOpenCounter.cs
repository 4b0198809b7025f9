using System.Runtime.InteropServices;
using System.Text;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>
/// Counts the opens of files in the watched folders as the Linux kernel reports them (inotify IN_OPEN): an observer
/// outside the code under test, over real files, that sees every open whoever makes it. Tests run as root here, so
/// taking the read permission away would prove nothing.
/// </summary>
internal sealed class InotifyOpenCounter : IDisposable
{
    private const int InNonBlock = 0x800;
    private const uint InOpen = 0x20;
    private const uint InIsDir = 0x40000000;
    private const uint InQueueOverflow = 0x4000;

    private readonly int _fd;
    private readonly Dictionary<int, string> _folders = [];

    public InotifyOpenCounter(params string[] folders)
    {
        _fd = inotify_init1(InNonBlock);
        if (_fd < 0)
        {
            throw new InvalidOperationException($"inotify_init1 failed (errno {Marshal.GetLastPInvokeError()}); this test needs Linux.");
        }

        foreach (var folder in folders)
        {
            var wd = inotify_add_watch(_fd, Encoding.UTF8.GetBytes(folder + "\0"), InOpen);
            if (wd < 0)
            {
                throw new InvalidOperationException($"inotify_add_watch({folder}) failed (errno {Marshal.GetLastPInvokeError()}).");
            }

            _folders[wd] = folder;
        }
    }

    /// <summary>Full paths of the files opened since the last call (folders' own opens excluded), one per open.</summary>
    public List<string> Drain()
    {
        var opened = new List<string>();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = (int)read_fd(_fd, buffer, buffer.Length);
            if (read <= 0)
            {
                return opened;
            }

            for (var at = 0; at < read;)
            {
                var wd = BitConverter.ToInt32(buffer, at);
                var mask = BitConverter.ToUInt32(buffer, at + 4);
                var length = BitConverter.ToInt32(buffer, at + 12);
                if ((mask & InQueueOverflow) != 0)
                {
                    throw new InvalidOperationException("the inotify queue overflowed; the open count would be wrong");
                }

                var name = Encoding.UTF8.GetString(buffer, at + 16, length).TrimEnd('\0');
                if ((mask & InOpen) != 0 && (mask & InIsDir) == 0 && name.Length > 0)
                {
                    opened.Add(Path.Combine(_folders[wd], name));
                }

                at += 16 + length;
            }
        }
    }

    public void Dispose() => _ = close(_fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int inotify_init1(int flags);

    // The path as NUL-terminated UTF-8 bytes, which is what the kernel takes.
    [DllImport("libc", SetLastError = true)]
    private static extern int inotify_add_watch(int fd, byte[] path, uint mask);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    private static extern nint read_fd(int fd, byte[] buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}

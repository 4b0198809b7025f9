using System.Globalization;
using System.Text.RegularExpressions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// What the kernel and the process's own /metrics say about a running worker: resident memory, open file descriptors,
/// TCP connections to the database port, the managed heap (prometheus-net's dotnet_total_memory_bytes) and the images
/// finished so far (pgpipe_images_processed_total).
/// </summary>
public static partial class ProcessProbe
{
    /// <summary>VmRSS of <paramref name="pid"/> in bytes.</summary>
    public static long RssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Entries of /proc/PID/fd: every open descriptor (files, sockets, pipes, event fds).</summary>
    public static int OpenDescriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    /// <summary>
    /// Established TCP connections of <paramref name="pid"/> to <paramref name="remotePort"/> (the database), found by
    /// matching the socket inodes of its descriptors against /proc/net/tcp and tcp6.
    /// </summary>
    public static int ConnectionsTo(int pid, int remotePort)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fd in Directory.GetFiles($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    inodes.Add(target[8..^1]);
                }
            }
            catch (IOException)
            {
                // Closed while being read.
            }
        }

        var port = remotePort.ToString("X4", CultureInfo.InvariantCulture);
        var count = 0;
        foreach (var table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // f[2] = remote address:port, f[3] = state (01 = ESTABLISHED), f[9] = inode.
                if (f.Length > 9 && f[2].EndsWith(":" + port, StringComparison.Ordinal) && f[3] == "01" && inodes.Contains(f[9]))
                {
                    count++;
                }
            }
        }

        return count;
    }

    /// <summary>
    /// The managed heap in bytes and the images the worker has finished (every status), from one scrape of its
    /// /metrics; nulls when the endpoint does not answer.
    /// </summary>
    public static async Task<(long? ManagedHeap, long? ImagesDone)> MetricsAsync(HttpClient http, int metricsPort)
    {
        try
        {
            var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
            var heap = TotalMemory().Match(text);
            // Before the first batch the counter has no series at all: zero images, not an unknown count.
            var images = ImagesProcessed().Matches(text).Sum(m => (long)double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            return (heap.Success ? (long)double.Parse(heap.Groups[1].Value, CultureInfo.InvariantCulture) : null, images);
        }
        catch (HttpRequestException)
        {
            return (null, null);
        }
    }

    /// <summary>Least-squares slope of y over x.</summary>
    public static double Slope(IReadOnlyList<(double X, double Y)> points)
    {
        var n = points.Count;
        if (n < 2)
        {
            return 0;
        }

        double mx = points.Average(p => p.X), my = points.Average(p => p.Y);
        var sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
        return sxx == 0 ? 0 : points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx;
    }

    [GeneratedRegex(@"^dotnet_total_memory_bytes\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex TotalMemory();

    [GeneratedRegex(@"^pgpipe_images_processed_total\{[^}]*\}\s+(\S+)", RegexOptions.Multiline)]
    private static partial Regex ImagesProcessed();
}

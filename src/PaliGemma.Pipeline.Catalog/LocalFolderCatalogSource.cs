using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// A catalog in a local folder, searched recursively. Keys are '/'-separated paths relative to the folder, listed in
/// UTF-8 byte order (as S3 lists) so that resuming after a key is well defined. ETags are the SHA-256 of the content,
/// computed while listing: a nightly run must recognise an unchanged image even after a copy reset its mtime.
/// The source never reads outside its folder: listing does not follow folder links and skips file links whose target
/// lies outside; <see cref="ReadAsync"/> refuses paths that leave the folder lexically ("..", another absolute path) or
/// through a symbolic link anywhere along the path, since job messages carrying these paths may be crafted.
/// </summary>
public sealed class LocalFolderCatalogSource : ICatalogSource
{
    private const int HashBufferSize = 1 << 16;

    private readonly CatalogOptions _options;
    private readonly ILogger _logger;
    private readonly string _rootWithSeparator;
    private readonly string _realRoot;

    /// <summary>Creates a source over the folder <paramref name="root"/> (made absolute).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public LocalFolderCatalogSource(string root, CatalogOptions options, ILogger<LocalFolderCatalogSource>? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentNullException.ThrowIfNull(options);
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        if (!Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"Catalog folder '{full}' does not exist (given as '{root}').");
        }

        Root = full;
        _rootWithSeparator = full.EndsWith(Path.DirectorySeparatorChar) ? full : full + Path.DirectorySeparatorChar;
        // The folder itself may be reached through links (e.g. /data -> /mnt/disk1); containment is judged on real paths.
        _realRoot = RealPath.Resolve(full) ?? throw new IOException($"Catalog folder '{full}' is a cycle of symbolic links.");
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Root { get; }

    /// <inheritdoc />
    public IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, CancellationToken ct) => ListAsync(filter, null, ct);

    /// <inheritdoc />
    public async IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, string? startAfterKey, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        filter.Validate();
        var prefix = filter.EffectivePrefix();
        if (prefix is null)
        {
            yield break;
        }

        // Hash a few files ahead of the consumer, but hand them out strictly in key order.
        using var hashing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var window = new Queue<Task<CatalogObject?>>();
        long seen = 0, matched = 0;
        try
        {
            foreach (var (file, key) in EnumerateFiles(prefix, startAfterKey))
            {
                ct.ThrowIfCancellationRequested();
                seen++;
                long size;
                try
                {
                    size = file.Length;
                }
                catch (FileNotFoundException)
                {
                    CatalogLog.LocalFileVanished(_logger, file.FullName);
                    continue;
                }

                if (!filter.IsMatch(key, size))
                {
                    continue;
                }

                if (file.LinkTarget is not null && LinkLeavesRoot(file.FullName) is { } outside)
                {
                    CatalogLog.LocalFileLinkSkipped(_logger, file.FullName, outside);
                    continue;
                }

                window.Enqueue(Task.Run(() => DescribeAsync(file, key, hashing.Token), hashing.Token));
                if (window.Count >= _options.LocalHashParallelism && await window.Dequeue().ConfigureAwait(false) is { } ready)
                {
                    matched++;
                    yield return ready;
                }
            }

            while (window.Count > 0)
            {
                if (await window.Dequeue().ConfigureAwait(false) is { } ready)
                {
                    matched++;
                    yield return ready;
                }
            }

            CatalogLog.LocalListingCompleted(_logger, Root, seen, matched);
        }
        finally
        {
            // The consumer may stop early (break, exception): stop hashing and observe what is still running.
            if (window.Count > 0)
            {
                await hashing.CancelAsync().ConfigureAwait(false);
                try
                {
                    await Task.WhenAll(window).ConfigureAwait(false);
                }
                catch (Exception) when (hashing.IsCancellationRequested)
                {
                    // Cancelled or failed after the consumer left; nobody is waiting for these results.
                }
            }
        }
    }

    /// <inheritdoc />
    public async Task<byte[]> ReadAsync(string uri, string expectedETag, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedETag);
        var content = await ReadCurrentAsync(uri, ct).ConfigureAwait(false);
        if (!string.Equals(content.ETag, expectedETag, StringComparison.OrdinalIgnoreCase))
        {
            throw new CatalogObjectChangedException(uri, expectedETag, content.ETag);
        }

        return content.Bytes;
    }

    /// <inheritdoc />
    public async Task<CatalogContent> ReadCurrentAsync(string uri, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(uri);
        if (!Path.IsPathFullyQualified(uri))
        {
            throw new CatalogUriException(uri, $"'{uri}' is not an absolute file path; local catalog objects are addressed by their full path.");
        }

        // Messages carry paths; refuse anything outside the catalog so a crafted message cannot read arbitrary files.
        var path = Path.GetFullPath(uri);
        if (!path.StartsWith(_rootWithSeparator, StringComparison.Ordinal))
        {
            throw new CatalogUriException(uri, $"'{uri}' is not inside this catalog ({Root}).");
        }

        // A link anywhere along the path (planted in the folder, or a folder link the listing never followed) may
        // point outside; open the resolved file, so what is checked is what is read.
        var real = RealPath.Resolve(path);
        if (real is null || !RealPath.IsInside(real, _realRoot))
        {
            throw new CatalogUriException(uri,
                $"'{uri}' resolves through a symbolic link to {(real is null ? "a cycle of links" : $"'{real}'")}, outside this catalog ({Root}); refused.");
        }

        path = real;

        byte[] content;
        try
        {
            // Read-only: nothing to flush, so a synchronous dispose waits on nothing.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, HashBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var length = stream.Length;
            if (length > _options.MaxObjectBytes)
            {
                throw new CatalogObjectTooLargeException(uri, length, _options.MaxObjectBytes);
            }

            content = new byte[length];
            await stream.ReadExactlyAsync(content, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CatalogObjectMissingException(uri, e);
        }

        return new CatalogContent(content, Convert.ToHexStringLower(SHA256.HashData(content)));
    }

    /// <summary>Why the file link at <paramref name="path"/> must not be listed (target outside, dangling, cyclic), or null.</summary>
    private string? LinkLeavesRoot(string path)
    {
        var real = RealPath.Resolve(path);
        if (real is null)
        {
            return "its links form a cycle";
        }

        if (!RealPath.IsInside(real, _realRoot))
        {
            return $"it points to '{real}', outside {_realRoot}";
        }

        return File.Exists(real) ? null : $"its target '{real}' does not exist";
    }

    private async Task<CatalogObject?> DescribeAsync(FileInfo file, string key, CancellationToken ct)
    {
        try
        {
            using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, HashBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var size = stream.Length;
            var hash = await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false);
            file.Refresh();
            return new CatalogObject(file.FullName, key, Convert.ToHexStringLower(hash), size, new DateTimeOffset(file.LastWriteTimeUtc, TimeSpan.Zero));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            CatalogLog.LocalFileVanished(_logger, file.FullName);
            return null;
        }
    }

    // Depth-first walk in global key order without collecting the tree: within one folder, entries are sorted with
    // sub-folders keyed as "name/". Every key below a folder starts with that folder's key, so the keys of one subtree
    // are contiguous in byte order and sorting siblings this way yields all keys sorted.
    private IEnumerable<(FileInfo File, string Key)> EnumerateFiles(string prefix, string? startAfter)
    {
        var comparer = Utf8OrdinalComparer.Instance;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = false,
            IgnoreInaccessible = false,
            AttributesToSkip = 0,
            ReturnSpecialDirectories = false,
        };

        var stack = new Stack<IEnumerator<(FileSystemInfo Info, string Key)>>();
        stack.Push(ListFolder(new DirectoryInfo(Root), string.Empty).GetEnumerator());
        try
        {
            while (stack.Count > 0)
            {
                var current = stack.Peek();
                if (!current.MoveNext())
                {
                    stack.Pop().Dispose();
                    continue;
                }

                var (info, key) = current.Current;
                if (info is DirectoryInfo directory)
                {
                    // key ends with '/'. Descend only if the subtree can hold a key that matches the prefix and
                    // lies after the resume point.
                    var prefixCompatible = key.StartsWith(prefix, StringComparison.Ordinal) || prefix.StartsWith(key, StringComparison.Ordinal);
                    var afterResume = startAfter is null || startAfter.StartsWith(key, StringComparison.Ordinal) || comparer.Compare(key, startAfter) > 0;
                    if (!prefixCompatible || !afterResume)
                    {
                        continue;
                    }

                    if (directory.LinkTarget is not null)
                    {
                        CatalogLog.LocalDirectoryLinkSkipped(_logger, directory.FullName);
                        continue;
                    }

                    stack.Push(ListFolder(directory, key).GetEnumerator());
                }
                else if (info is FileInfo file
                         && key.StartsWith(prefix, StringComparison.Ordinal)
                         && (startAfter is null || comparer.Compare(key, startAfter) > 0))
                {
                    yield return (file, key);
                }
            }
        }
        finally
        {
            while (stack.Count > 0)
            {
                stack.Pop().Dispose();
            }
        }

        IEnumerable<(FileSystemInfo Info, string Key)> ListFolder(DirectoryInfo folder, string folderKey)
        {
            var entries = folder.EnumerateFileSystemInfos("*", options)
                .Select(e => (Info: e, Key: folderKey + e.Name + (e is DirectoryInfo ? "/" : string.Empty)))
                .ToList();
            entries.Sort((a, b) => comparer.Compare(a.Key, b.Key));
            return entries;
        }
    }
}

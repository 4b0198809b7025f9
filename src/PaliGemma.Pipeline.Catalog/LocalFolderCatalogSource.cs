using System.Runtime.CompilerServices;
using System.IO.Enumeration;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// A catalog in a local folder, searched recursively. Keys are '/'-separated paths relative to the folder, listed in
/// UTF-8 byte order (as S3 lists) so that resuming after a key is well defined. ETags are the SHA-256 of the content, so
/// a nightly run recognises an unchanged image even after a copy reset its mtime. A file unchanged since an earlier
/// listing (same path, size, mtime and file id) is not opened again: its hash comes from the <see cref="LocalHashCache"/>.
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
    private long _filesHashed;
    private long _bytesHashed;
    private long _hashesReused;
    private readonly string? _cacheFolder;

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
        if (options.LocalHashCache)
        {
            _cacheFolder = Path.GetFullPath(string.IsNullOrWhiteSpace(options.LocalHashCacheFolder) ? LocalHashCache.DefaultFolder() : options.LocalHashCacheFolder);
            HashCachePath = LocalHashCache.FileFor(_cacheFolder, _realRoot);
        }
    }

    /// <inheritdoc />
    public string Root { get; }

    /// <inheritdoc />
    public IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, CancellationToken ct) => ListAsync(filter, null, ct);

    /// <summary>Files opened and hashed by listings of this source so far.</summary>
    public long FilesHashed => Interlocked.Read(ref _filesHashed);

    /// <summary>Bytes read to hash files by listings of this source so far.</summary>
    public long BytesHashed => Interlocked.Read(ref _bytesHashed);

    /// <summary>Files whose hash listings of this source took from the local hash cache, without opening them.</summary>
    public long HashesReused => Interlocked.Read(ref _hashesReused);

    /// <summary>The local hash cache file this source uses, or null when <see cref="CatalogOptions.LocalHashCache"/> is off.</summary>
    public string? HashCachePath { get; }

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

        if (_cacheFolder is not null && RealPath.IsInside(RealPath.Resolve(_cacheFolder) ?? _cacheFolder, _realRoot))
        {
            // Checked when listing, not when reading: a worker that only reads files has no use for the cache.
            throw new ArgumentException(
                $"Catalog:LocalHashCacheFolder '{_cacheFolder}' lies inside the catalog folder '{Root}', where the cache would be listed as an image; choose a folder outside it.");
        }

        using var cache = OpenCache();
        // Hash a few files ahead of the consumer, but hand them out strictly in key order.
        using var hashing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var window = new Queue<Task<Described?>>();
        long seen = 0, matched = 0, hashedBefore = FilesHashed, reusedBefore = HashesReused;
        try
        {
            foreach (var (path, key, folder) in EnumerateFiles(prefix, startAfterKey, cache))
            {
                ct.ThrowIfCancellationRequested();
                seen++;
                if (FileStamp.Read(path) is not { } stamp)
                {
                    CatalogLog.LocalFileVanished(_logger, path);
                    continue;
                }

                if (!filter.IsMatch(key, stamp.Size))
                {
                    continue;
                }

                if (stamp.IsLink && LinkLeavesRoot(path) is { } outside)
                {
                    CatalogLog.LocalFileLinkSkipped(_logger, path, outside);
                    continue;
                }

                var name = key[folder.Key.Length..];
                if (cache is not null && LocalHashCache.Match(folder.CachedEntry(cache, name), stamp) is { } known)
                {
                    Interlocked.Increment(ref _hashesReused);
                    window.Enqueue(Task.FromResult<Described?>(new Described(new CatalogObject(path, key, Convert.ToHexStringLower(known), stamp.Size, ToTimestamp(stamp)), null)));
                }
                else
                {
                    var folderKey = folder.Key;
                    window.Enqueue(Task.Run(() => DescribeAsync(path, key, folderKey, name, stamp, hashing.Token), hashing.Token));
                }

                if (window.Count >= _options.LocalHashParallelism && await window.Dequeue().ConfigureAwait(false) is { } ready)
                {
                    matched++;
                    cache?.Put(ready.Entry);
                    yield return ready.Object;
                }
            }

            while (window.Count > 0)
            {
                if (await window.Dequeue().ConfigureAwait(false) is { } ready)
                {
                    matched++;
                    cache?.Put(ready.Entry);
                    yield return ready.Object;
                }
            }

            CatalogLog.LocalListingCompleted(_logger, Root, seen, matched, FilesHashed - hashedBefore, HashesReused - reusedBefore);
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
        var path = ResolveInside(uri);
        byte[] content;
        try
        {
            // Read-only: nothing to flush, so a synchronous dispose waits on nothing.
            using var stream = OpenRead(path);
            var length = stream.Length;
            if (length > _options.MaxObjectBytes)
            {
                throw new CatalogObjectTooLargeException(uri, length, _options.MaxObjectBytes);
            }

            // Filled completely by ReadExactlyAsync (or it throws), so zeroing it first would be wasted work.
            content = GC.AllocateUninitializedArray<byte>((int)length);
            await stream.ReadExactlyAsync(content, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CatalogObjectMissingException(uri, e);
        }

        return new CatalogContent(content, Convert.ToHexStringLower(SHA256.HashData(content)));
    }

    /// <inheritdoc />
    public async Task<long> CopyToAsync(string uri, string expectedETag, Stream destination, long maxBytes, string limitName, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedETag);
        ArgumentNullException.ThrowIfNull(destination);
        var path = ResolveInside(uri);
        try
        {
            using var stream = OpenRead(path);
            if (stream.Length > maxBytes)
            {
                throw new CatalogObjectTooLargeException(uri, stream.Length, maxBytes, limitName);
            }

            // The content hash is the ETag: it is computed over the very bytes copied, so a file rewritten while
            // being copied is caught here rather than trusted.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[HashBufferSize];
            long copied = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                copied += read;
                if (copied > maxBytes)
                {
                    throw new CatalogObjectTooLargeException(uri, copied, maxBytes, limitName);
                }

                hash.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            }

            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            return string.Equals(actual, expectedETag, StringComparison.OrdinalIgnoreCase)
                ? copied
                : throw new CatalogObjectChangedException(uri, expectedETag, actual);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CatalogObjectMissingException(uri, e);
        }
    }

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, HashBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>The real path of a catalog file named by a job, refusing anything that leads outside the catalog.</summary>
    private string ResolveInside(string uri)
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
        return real is null || !RealPath.IsInside(real, _realRoot)
            ? throw new CatalogUriException(uri,
                $"'{uri}' resolves through a symbolic link to {(real is null ? "a cycle of links" : $"'{real}'")}, outside this catalog ({Root}); refused.")
            : real;
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

    private LocalHashCache? OpenCache()
    {
        if (HashCachePath is null)
        {
            return null;
        }

        try
        {
            return LocalHashCache.Open(HashCachePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only home or a damaged file costs a full hash pass, never the listing.
            CatalogLog.LocalHashCacheUnavailable(_logger, HashCachePath, e.Message);
            return null;
        }
    }

    private static DateTimeOffset ToTimestamp(FileStamp stamp) => DateTimeOffset.UnixEpoch.AddTicks(stamp.MtimeNs / 100);

    private async Task<Described?> DescribeAsync(string path, string key, string folderKey, string name, FileStamp stamp, CancellationToken ct)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, HashBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
            Interlocked.Increment(ref _filesHashed);
            var size = stream.Length;
            var hash = await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false);
            Interlocked.Add(ref _bytesHashed, size);
            var hashedAt = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
            // The stamp was read before the bytes: a write after it changes the mtime, so the entry cannot outlive it.
            // A file whose size moved between the two was being written; it is not cached.
            var entry = size == stamp.Size ? new LocalHashCache.Entry(folderKey, name, stamp, hashedAt, hash) : null;
            return new Described(new CatalogObject(path, key, Convert.ToHexStringLower(hash), size, ToTimestamp(stamp)), entry);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            CatalogLog.LocalFileVanished(_logger, path);
            return null;
        }
    }

    // Depth-first walk in global key order without collecting the tree: within one folder, entries are sorted with
    // sub-folders keyed as "name/". Every key below a folder starts with that folder's key, so the keys of one subtree
    // are contiguous in byte order and sorting siblings this way yields all keys sorted. A folder whose every file was
    // walked (inside the prefix, wholly after the resume point) has the cache entries of its vanished files swept.
    private IEnumerable<(string Path, string Key, Folder Folder)> EnumerateFiles(string prefix, string? startAfter, LocalHashCache? cache)
    {
        var comparer = Utf8OrdinalComparer.Instance;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = false,
            IgnoreInaccessible = false,
            AttributesToSkip = 0,
            ReturnSpecialDirectories = false,
        };

        var stack = new Stack<Folder>();
        stack.Push(Load(Root, string.Empty));
        while (stack.Count > 0)
        {
            var current = stack.Peek();
            if (current.Index >= current.Entries.Count)
            {
                stack.Pop();
                if (cache is not null && current.Key.StartsWith(prefix, StringComparison.Ordinal)
                    && (startAfter is null || comparer.Compare(current.Key, startAfter) > 0))
                {
                    cache.Sweep(current.Key, current.Entries.Where(e => !e.IsDirectory).Select(e => e.Name).ToHashSet(StringComparer.Ordinal));
                }

                continue;
            }

            var entry = current.Entries[current.Index++];
            var key = current.Key + entry.Name;
            var path = Path.Join(current.Path, entry.Name);
            if (entry.IsDirectory)
            {
                key += "/";
                // Descend only if the subtree can hold a key that matches the prefix and lies after the resume point.
                var prefixCompatible = key.StartsWith(prefix, StringComparison.Ordinal) || prefix.StartsWith(key, StringComparison.Ordinal);
                var afterResume = startAfter is null || startAfter.StartsWith(key, StringComparison.Ordinal) || comparer.Compare(key, startAfter) > 0;
                if (!prefixCompatible || !afterResume)
                {
                    continue;
                }

                if (entry.IsLink)
                {
                    CatalogLog.LocalDirectoryLinkSkipped(_logger, path);
                    continue;
                }

                stack.Push(Load(path, key));
            }
            else if (key.StartsWith(prefix, StringComparison.Ordinal) && (startAfter is null || comparer.Compare(key, startAfter) > 0))
            {
                yield return (path, key, current);
            }
        }

        Folder Load(string folderPath, string folderKey)
        {
            var entries = new FileSystemEnumerable<(string Name, bool IsDirectory, bool IsLink)>(folderPath,
                    (ref FileSystemEntry e) => (e.FileName.ToString(), e.IsDirectory, (e.Attributes & FileAttributes.ReparsePoint) != 0), options)
                .ToList();
            // Folders sort as "name/", files as "name".
            entries.Sort((a, b) => comparer.Compare(a.IsDirectory ? a.Name + "/" : a.Name, b.IsDirectory ? b.Name + "/" : b.Name));
            return new Folder(folderPath, folderKey, entries);
        }
    }

    /// <summary>A listed file, and the cache entry to record for it when it was hashed now.</summary>
    private sealed record Described(CatalogObject Object, LocalHashCache.Entry? Entry);

    /// <summary>One folder of the walk: its sorted entries, the next one to visit, and its cache entries once needed.</summary>
    private sealed class Folder(string path, string key, List<(string Name, bool IsDirectory, bool IsLink)> entries)
    {
        private Dictionary<string, LocalHashCache.Entry>? _cached;

        public string Path { get; } = path;

        public string Key { get; } = key;

        public List<(string Name, bool IsDirectory, bool IsLink)> Entries { get; } = entries;

        public int Index { get; set; }

        public LocalHashCache.Entry? CachedEntry(LocalHashCache cache, string name) =>
            (_cached ??= cache.LoadFolder(Key)).GetValueOrDefault(name);
    }
}

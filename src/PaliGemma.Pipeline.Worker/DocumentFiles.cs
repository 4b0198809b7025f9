using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Documents;

namespace PaliGemma.Pipeline.Worker;

/// <summary>A document's local copy: its path and size.</summary>
/// <param name="Path">The file, valid until the cache evicts it; an open handle keeps reading it after that.</param>
/// <param name="Size">Its size in bytes.</param>
public sealed record DocumentFile(string Path, long Size);

/// <summary>
/// The local copies of the documents whose pages this worker renders, one per (uri, ETag). A document's pages reach a
/// worker in many batches, and rendering needs random access to the file; copying it once to local disk means each
/// worker fetches a document once (twice at most if it was evicted between its expansion and its pages), and never
/// holds it in memory. Concurrent batches asking for the same document share one download.
/// </summary>
/// <remarks>
/// The total size of the copies is bounded by <see cref="WorkerOptions.DocumentCacheBytes"/>; least recently used
/// copies are deleted first. Deleting a file an open reader still holds is safe on Linux (the reader keeps its inode).
/// </remarks>
public sealed partial class DocumentFiles : IDisposable
{
    private readonly CatalogReader _reader;
    private readonly DocumentOptions _documents;
    private readonly long _capacity;
    private readonly ILogger<DocumentFiles> _logger;
    private readonly string _folder;
    private readonly bool _ownsFolder;
    private readonly ConcurrentDictionary<string, Lazy<Task<DocumentFile>>> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _lastUse = new(StringComparer.Ordinal);
    private readonly object _evictLock = new();
    private long _clock;
    private long _fetches;
    private long _bytesFetched;

    /// <summary>Creates the cache in <see cref="WorkerOptions.DocumentCacheFolder"/> or a temporary folder of its own.</summary>
    public DocumentFiles(CatalogReader reader, IOptions<WorkerOptions> options, IOptions<DocumentOptions> documents, ILogger<DocumentFiles> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(documents);
        _reader = reader;
        _documents = documents.Value;
        _capacity = options.Value.DocumentCacheBytes;
        _logger = logger;
        var configured = options.Value.DocumentCacheFolder;
        _ownsFolder = string.IsNullOrWhiteSpace(configured);
        _folder = _ownsFolder
            ? Path.Combine(Path.GetTempPath(), $"pgpipe-documents-{Environment.ProcessId}-{Guid.NewGuid():N}")
            : Path.GetFullPath(configured!);
        Directory.CreateDirectory(_folder);
    }

    /// <summary>Documents downloaded from the catalog so far.</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Bytes downloaded from the catalog so far.</summary>
    public long BytesFetched => Interlocked.Read(ref _bytesFetched);

    /// <summary>The local copy of <paramref name="uri"/> at <paramref name="etag"/>, downloading it on first use.</summary>
    /// <exception cref="Catalog.CatalogObjectException">Missing, changed or over <see cref="DocumentOptions.MaxBytes"/>.</exception>
    public Task<DocumentFile> GetAsync(string uri, string etag, CancellationToken ct) =>
        GetOrAddAsync(uri, etag, async path =>
        {
            var size = await _reader.DownloadAsync(uri, etag, path, _documents.MaxBytes, $"{DocumentOptions.SectionName}:MaxBytes", ct).ConfigureAwait(false);
            Interlocked.Increment(ref _fetches);
            Interlocked.Add(ref _bytesFetched, size);
            DocumentFetched(_logger, uri, size);
            return size;
        }, ct);

    /// <summary>Keeps bytes already fetched (an object that turned out to be a document) as its local copy.</summary>
    public Task<DocumentFile> AddAsync(string uri, string etag, ReadOnlyMemory<byte> bytes, CancellationToken ct) =>
        GetOrAddAsync(uri, etag, async path =>
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                await file.WriteAsync(bytes, ct).ConfigureAwait(false);
            }

            return bytes.Length;
        }, ct);

    private async Task<DocumentFile> GetOrAddAsync(string uri, string etag, Func<string, Task<long>> fill, CancellationToken ct)
    {
        var key = Key(uri, etag);
        var entry = _entries.GetOrAdd(key, k => new Lazy<Task<DocumentFile>>(() => FillAsync(k, fill)));
        try
        {
            var file = await entry.Value.WaitAsync(ct).ConfigureAwait(false);
            if (File.Exists(file.Path))
            {
                _lastUse[key] = Interlocked.Increment(ref _clock);
                return file;
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The batch that started the shared download was cancelled; this one still wants the file.
            _entries.TryRemove(new KeyValuePair<string, Lazy<Task<DocumentFile>>>(key, entry));
            return await GetOrAddAsync(uri, etag, fill, ct).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A failed download is not cached: the next batch that needs the document tries again.
            _entries.TryRemove(new KeyValuePair<string, Lazy<Task<DocumentFile>>>(key, entry));
            throw;
        }

        // Evicted between being found and being used: fetch it again.
        _entries.TryRemove(new KeyValuePair<string, Lazy<Task<DocumentFile>>>(key, entry));
        return await GetOrAddAsync(uri, etag, fill, ct).ConfigureAwait(false);
    }

    private async Task<DocumentFile> FillAsync(string key, Func<string, Task<long>> fill)
    {
        var path = Path.Combine(_folder, key);
        var partial = path + ".part";
        try
        {
            var size = await fill(partial).ConfigureAwait(false);
            File.Move(partial, path, overwrite: true);
            _lastUse[key] = Interlocked.Increment(ref _clock);
            Evict(key);
            return new DocumentFile(path, size);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
    }

    /// <summary>Deletes least recently used copies until the total fits, never the one just added.</summary>
    private void Evict(string keep)
    {
        lock (_evictLock)
        {
            var files = new DirectoryInfo(_folder).EnumerateFiles().Where(f => !f.Name.EndsWith(".part", StringComparison.Ordinal)).ToList();
            var total = files.Sum(f => f.Length);
            foreach (var file in files.OrderBy(f => _lastUse.GetValueOrDefault(f.Name)))
            {
                if (total <= _capacity)
                {
                    break;
                }

                if (string.Equals(file.Name, keep, StringComparison.Ordinal))
                {
                    continue;
                }

                total -= file.Length;
                _entries.TryRemove(file.Name, out _);
                _lastUse.TryRemove(file.Name, out _);
                TryDelete(file.FullName);
            }
        }
    }

    /// <summary>A file name per (uri, ETag) that any file system accepts.</summary>
    private static string Key(string uri, string etag) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(uri + "\n" + etag)))[..32];

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsFolder)
        {
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    [LoggerMessage(EventId = 2201, EventName = "DocumentFetched", Level = LogLevel.Information, Message = "Fetched document {Uri} ({Bytes} bytes) to local disk")]
    private static partial void DocumentFetched(ILogger logger, string uri, long bytes);
}

using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Documents;

namespace PaliGemma.Pipeline.Web;

/// <summary>
/// Local copies of the documents whose pages the browser renders, one file per (uri, ETag) in a folder of this
/// process. Rendering needs random access to the file, and a grid of page thumbnails asks for the same document once
/// per page; one copy serves them all, and concurrent requests share one download.
/// </summary>
/// <remarks>
/// The copies together stay within <see cref="ResultsBrowserOptions.DocumentCacheBytes"/> (the copy just made is kept
/// even if it alone is larger); the least recently used go first. A reader that still holds a deleted file keeps
/// reading it (Linux keeps the inode). The folder is deleted with the service.
/// </remarks>
internal sealed partial class DocumentCopies : IDisposable
{
    private readonly CatalogSourceFactory _sources;
    private readonly DocumentOptions _documents;
    private readonly long _capacity;
    private readonly ILogger<DocumentCopies> _logger;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"pgpipe-serve-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private readonly Lock _gate = new();
    // Guarded by _gate: the pending or finished download of each key, and when it was last handed out.
    private readonly Dictionary<string, (Task<string> Copy, long LastUse)> _copies = new(StringComparer.Ordinal);
    private long _clock;

    public DocumentCopies(CatalogSourceFactory sources, IOptions<ResultsBrowserOptions> options, IOptions<DocumentOptions> documents, ILogger<DocumentCopies> logger)
    {
        _sources = sources;
        _documents = documents.Value;
        _capacity = options.Value.DocumentCacheBytes;
        _logger = logger;
    }

    /// <summary>The local path of <paramref name="uri"/> at <paramref name="etag"/>, read from <paramref name="runSource"/> on first use.</summary>
    /// <exception cref="CatalogObjectException">Missing, changed, or over <see cref="DocumentOptions.MaxBytes"/>.</exception>
    public async Task<string> GetAsync(string runSource, string uri, string etag, CancellationToken ct)
    {
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(uri + "\n" + etag)))[..32];
        Task<string> copy;
        lock (_gate)
        {
            // Reused while pending or present on disk; a failed download or an evicted file is fetched again.
            copy = _copies.TryGetValue(key, out var entry) && (!entry.Copy.IsCompleted || (entry.Copy.IsCompletedSuccessfully && File.Exists(entry.Copy.Result)))
                ? entry.Copy
                // Not tied to this request's token: other requests may be waiting on the same download.
                : DownloadAsync(runSource, uri, etag, key);
            _copies[key] = (copy, ++_clock);
        }

        try
        {
            return await copy.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // A failed download is forgotten, so the next request tries again.
            lock (_gate)
            {
                if (_copies.TryGetValue(key, out var entry) && entry.Copy == copy)
                {
                    _copies.Remove(key);
                }
            }

            throw;
        }
    }

    private async Task<string> DownloadAsync(string runSource, string uri, string etag, string key)
    {
        // Yield first, so the caller's lock is released before any I/O starts.
        await Task.Yield();
        Directory.CreateDirectory(_folder);
        var path = Path.Combine(_folder, key);
        var partial = path + ".part";
        try
        {
            long size;
            var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                // Bounded by a timeout of its own rather than a request token, since it is shared between requests.
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
                size = await _sources.Create(runSource)
                    .CopyToAsync(uri, etag, file, _documents.MaxBytes, $"{DocumentOptions.SectionName}:MaxBytes", timeout.Token).ConfigureAwait(false);
            }

            File.Move(partial, path, overwrite: true);
            DocumentCopied(_logger, uri, size);
            Evict(key);
            return path;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    private void Evict(string keep)
    {
        lock (_gate)
        {
            var files = new DirectoryInfo(_folder).EnumerateFiles().Where(f => f.Extension.Length == 0).ToList();
            var total = files.Sum(f => f.Length);
            foreach (var file in files.OrderBy(f => _copies.TryGetValue(f.Name, out var e) ? e.LastUse : 0))
            {
                if (total <= _capacity)
                {
                    return;
                }

                if (file.Name != keep)
                {
                    total -= file.Length;
                    _copies.Remove(file.Name);
                    file.Delete();
                }
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(_folder))
            {
                Directory.Delete(_folder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A temporary folder left behind is harmless; the operating system clears it.
        }
    }

    [LoggerMessage(EventId = 8003, EventName = "DocumentCopied", Level = LogLevel.Information, Message = "Copied document {Uri} ({Bytes} bytes) to local disk to render its pages")]
    private static partial void DocumentCopied(ILogger logger, string uri, long bytes);
}

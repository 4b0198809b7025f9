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
    private readonly ILogger<DocumentCopies> _logger;
    private readonly LocalDocumentCopies _copies;

    public DocumentCopies(CatalogSourceFactory sources, IOptions<ResultsBrowserOptions> options, IOptions<DocumentOptions> documents, ILogger<DocumentCopies> logger)
    {
        _sources = sources;
        _documents = documents.Value;
        _logger = logger;
        _copies = new LocalDocumentCopies(null, options.Value.DocumentCacheBytes, "pgpipe-serve-");
    }

    /// <summary>The local copy of a document version, fetched from the catalog of the run that listed it on first use.</summary>
    public async Task<string> GetAsync(string runSource, string uri, string etag, CancellationToken ct) =>
        (await _copies.GetAsync(uri, etag, async path =>
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                // Bounded by a timeout of its own rather than a request token, since it is shared between requests.
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
                var size = await _sources.Create(runSource)
                    .CopyToAsync(uri, etag, file, _documents.MaxBytes, $"{DocumentOptions.SectionName}:MaxBytes", timeout.Token).ConfigureAwait(false);
                DocumentCopied(_logger, uri, size);
                return size;
            }
        }, ct).ConfigureAwait(false)).Path;

    public void Dispose() => _copies.Dispose();

    [LoggerMessage(EventId = 8003, EventName = "DocumentCopied", Level = LogLevel.Information, Message = "Copied document {Uri} ({Bytes} bytes) to local disk to render its pages")]
    private static partial void DocumentCopied(ILogger logger, string uri, long bytes);
}

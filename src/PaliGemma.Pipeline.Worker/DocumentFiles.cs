using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Documents;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// The local copies of the documents whose pages this worker renders (<see cref="LocalDocumentCopies"/>). A document's
/// pages reach a worker in many batches, and rendering needs random access to the file; copying it once to local disk
/// means each worker fetches a document once (twice at most if it was evicted between its expansion and its pages),
/// and never holds it in memory. Bounded by <see cref="WorkerOptions.DocumentCacheBytes"/>.
/// </summary>
public sealed partial class DocumentFiles : IDisposable
{
    private readonly CatalogReader _reader;
    private readonly DocumentOptions _documents;
    private readonly ILogger<DocumentFiles> _logger;
    private readonly LocalDocumentCopies _copies;
    private long _fetches;
    private long _bytesFetched;

    /// <summary>Creates the copies in <see cref="WorkerOptions.DocumentCacheFolder"/> or a temporary folder of its own.</summary>
    public DocumentFiles(CatalogReader reader, IOptions<WorkerOptions> options, IOptions<DocumentOptions> documents, ILogger<DocumentFiles> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(documents);
        _reader = reader;
        _documents = documents.Value;
        _logger = logger;
        _copies = new LocalDocumentCopies(options.Value.DocumentCacheFolder, options.Value.DocumentCacheBytes, "pgpipe-documents-");
    }

    /// <summary>Documents downloaded from the catalog so far.</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>Bytes downloaded from the catalog so far.</summary>
    public long BytesFetched => Interlocked.Read(ref _bytesFetched);

    /// <summary>The local copy of <paramref name="uri"/> at <paramref name="etag"/>, downloading it on first use.</summary>
    /// <exception cref="Catalog.CatalogObjectException">Missing, changed or over <see cref="DocumentOptions.MaxBytes"/>.</exception>
    public Task<DocumentFile> GetAsync(string uri, string etag, CancellationToken ct) =>
        _copies.GetAsync(uri, etag, async path =>
        {
            var size = await _reader.DownloadAsync(uri, etag, path, _documents.MaxBytes, $"{DocumentOptions.SectionName}:MaxBytes", ct).ConfigureAwait(false);
            Interlocked.Increment(ref _fetches);
            Interlocked.Add(ref _bytesFetched, size);
            DocumentFetched(_logger, uri, size);
            return size;
        }, ct);

    /// <summary>Keeps bytes already fetched (an object that turned out to be a document) as its local copy.</summary>
    public Task<DocumentFile> AddAsync(string uri, string etag, ReadOnlyMemory<byte> bytes, CancellationToken ct) =>
        _copies.GetAsync(uri, etag, async path =>
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                await file.WriteAsync(bytes, ct).ConfigureAwait(false);
            }

            return bytes.Length;
        }, ct);

    /// <inheritdoc />
    public void Dispose() => _copies.Dispose();

    [LoggerMessage(EventId = 2201, EventName = "DocumentFetched", Level = LogLevel.Information, Message = "Fetched document {Uri} ({Bytes} bytes) to local disk")]
    private static partial void DocumentFetched(ILogger logger, string uri, long bytes);
}

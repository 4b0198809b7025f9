using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Documents;

namespace PaliGemma.Pipeline.Worker;

/// <summary>What a whole-object job turned out to be once its bytes were looked at.</summary>
internal abstract record ObjectOutcome
{
    /// <summary>An image (or a one-page TIFF), preprocessed for the model.</summary>
    internal sealed record Image(PreprocessedImage Pixels) : ObjectOutcome;

    /// <summary>A document that opened: it expands into one job per page.</summary>
    internal sealed record Document(DocumentKind Kind, int PageCount, long Size) : ObjectOutcome;

    /// <summary>A document that could not be opened: its one failure, with the reason a user can act on.</summary>
    internal sealed record BrokenDocument(DocumentKind Kind, long Size, string ReasonCode, string Message) : ObjectOutcome;
}

/// <summary>A page ready for the model, and the tasks a usable text layer already answered.</summary>
internal sealed record PageOutcome(PreprocessedImage? Pixels, IReadOnlyList<TaskSpec> ModelTasks, IReadOnlyList<(TaskSpec Task, string Text)> TextLayer);

/// <summary>
/// The document side of a worker batch: recognising documents among whole-object jobs, rendering and reading pages,
/// and expanding a document into per-page jobs on the worker's own queue.
/// </summary>
/// <remarks>
/// Expansion runs on the worker rather than the producer because it needs the document's bytes: the producer only
/// lists keys, at the source's speed, and never reads objects. A document job is acknowledged only after its page jobs
/// are sent, so a worker killed midway leaves it to be expanded again; pages already done are not re-sent, and a page
/// sent twice is computed at most twice and stored once (results are unique per page).
/// </remarks>
public sealed partial class DocumentStage(DocumentFiles files, OpenDocuments readers, ResultStore store, IOptions<DocumentOptions> options, ILogger<DocumentStage> logger)
{
    /// <summary>The text-layer mode that lets a usable PDF text layer stand in for the model's OCR.</summary>
    public const string PreferTextLayer = "prefer";

    /// <summary>Page jobs sent per broker call while expanding a document.</summary>
    private const int SendChunk = 256;

    /// <summary>The origin stored with a result read from a PDF text layer instead of generated.</summary>
    public const string TextLayerOrigin = "text_layer";

    /// <summary>
    /// A TIFF listed at up to this size is fetched into memory like any image: most are one page (an image, which then
    /// never touches the disk), and a small multi-page one is written to its local copy from there.
    /// </summary>
    internal const long InMemoryTiffBytes = 32L << 20;

    /// <summary>
    /// Whether a whole-object job is fetched straight to local disk: a PDF (always a document), or a TIFF too large to
    /// hold in memory while its pages are counted.
    /// </summary>
    internal static bool FetchesToDisk(ImageJob job) =>
        job.Uri.EndsWith(".pdf", StringComparison.OrdinalIgnoreCase)
        || (job.Size > InMemoryTiffBytes && (job.Uri.EndsWith(".tif", StringComparison.OrdinalIgnoreCase) || job.Uri.EndsWith(".tiff", StringComparison.OrdinalIgnoreCase)));

    /// <summary>
    /// Fetches a whole object named like a document to disk and decides what it is: a document (PDF, TIFF of more
    /// than one page), a broken document, or an image after all (a one-page TIFF, or a misnamed image file).
    /// </summary>
    internal async Task<ObjectOutcome> FromFileAsync(ImageJob job, ImagePreprocessor preprocessor, long maxImageBytes, CancellationToken ct)
    {
        var file = await files.GetAsync(job.Uri, job.ETag, ct).ConfigureAwait(false);
        if (Sniff(file.Path) is { } kind && Open(file, kind, ct) is { } opened)
        {
            return opened;
        }

        // Not a document after all (or a one-page TIFF): the image path decides, with the image size limit.
        if (file.Size > maxImageBytes)
        {
            throw new Catalog.CatalogObjectTooLargeException(job.Uri, file.Size, maxImageBytes, $"{WorkerOptions.SectionName}:MaxImageBytes");
        }

        var bytes = await File.ReadAllBytesAsync(file.Path, ct).ConfigureAwait(false);
        return new ObjectOutcome.Image(preprocessor.Preprocess(bytes, ct));
    }

    /// <summary>
    /// Decides what bytes fetched as an image are: null when they are not a document (a one-page TIFF is not, and
    /// never reaches the disk), so the caller decodes them as today; otherwise the document (kept on disk for its
    /// pages) or its failure.
    /// </summary>
    internal async Task<ObjectOutcome?> FromBytesAsync(ImageJob job, byte[] bytes, CancellationToken ct)
    {
        if (DocumentSniffer.Sniff(bytes.AsSpan(0, Math.Min(bytes.Length, SniffBytes))) is not { } kind
            || (kind == DocumentKind.Tiff && DocumentReader.IsSinglePageTiff(bytes)))
        {
            return null;
        }

        var file = await files.AddAsync(job.Uri, job.ETag, bytes, ct).ConfigureAwait(false);
        return Open(file, kind, ct);
    }

    /// <summary>
    /// Renders one page for the model. With <c>prefer</c>, an <c>ocr</c> task whose PDF page has a usable text layer is
    /// answered from it, and the page is rendered only if another task still needs the model.
    /// </summary>
    internal async Task<PageOutcome> RenderPageAsync(ImageJob job, int page, IReadOnlyList<TaskSpec> tasks, ImagePreprocessor preprocessor, CancellationToken ct)
    {
        var file = await files.GetAsync(job.Uri, job.ETag, ct).ConfigureAwait(false);
        var kind = Sniff(file.Path)
                   ?? throw new DocumentPageException(page, "corrupt", $"'{job.Uri}' is no longer a PDF or TIFF, so its page {page} cannot be read.");
        using var lease = readers.Acquire(file.Path, kind, options.Value, logger, ct);
        var reader = lease.Reader;
        if (page > reader.PageCount)
        {
            throw new DocumentPageException(page, "corrupt", $"'{job.Uri}' has {reader.PageCount} pages; page {page} does not exist.");
        }

        var modelTasks = tasks;
        var fromText = new List<(TaskSpec, string)>();
        if (kind == DocumentKind.Pdf && string.Equals(job.Documents?.PdfTextLayer, PreferTextLayer, StringComparison.Ordinal)
            && tasks.Any(IsOcr) && reader.ReadText(page) is { Usable: true } text)
        {
            fromText.AddRange(tasks.Where(IsOcr).Select(t => (t, text.Text)));
            modelTasks = tasks.Where(t => !IsOcr(t)).ToList();
        }

        if (modelTasks.Count == 0)
        {
            return new PageOutcome(null, modelTasks, fromText);
        }

        ct.ThrowIfCancellationRequested();
        try
        {
            using var rendered = reader.RenderPage(page, preprocessor.Width, preprocessor.Height, job.Documents?.PdfDpi ?? options.Value.PdfDpi, ct);
            return new PageOutcome(preprocessor.PreprocessDecoded(rendered.Image, ct), modelTasks, fromText);
        }
        catch (DocumentPageException e) when (e.Message.Contains(file.Path, StringComparison.Ordinal))
        {
            // The decoder names the file it read, which is this worker's local copy; the stored reason names the object.
            throw new DocumentPageException(e.Page, e.ReasonCode, e.Message.Replace(file.Path, job.Uri, StringComparison.Ordinal), e);
        }
    }

    /// <summary>
    /// Records the documents of a batch, then sends one job per page that still has a task to do to the queue the
    /// batch came from. The documents are recorded first, so a run's status counts their pages from the moment the
    /// first page job can be consumed.
    /// </summary>
    internal async Task ExpandAsync(ConsumeContext context, string modelKey, IReadOnlyList<(ImageJob Job, IReadOnlyList<TaskSpec> Tasks, int PageCount, DocumentKind Kind, long Size)> documents,
        CancellationToken ct)
    {
        if (documents.Count == 0)
        {
            return;
        }

        await store.RecordDocumentsAsync(
            documents.Select(d => new DocumentRecord(d.Job.Uri, d.Job.ETag, KindName(d.Kind), d.PageCount, d.Size, d.Job.RunId)).ToList(), ct).ConfigureAwait(false);
        var endpoint = await context.GetSendEndpoint(new Uri($"queue:{ModelKey.Parse(modelKey).QueueName}")).ConfigureAwait(false);
        foreach (var (job, tasks, pageCount, _, _) in documents)
        {
            var prompts = tasks.Select(t => t.Prompt).ToList();
            var done = await store.FindDonePagesAsync(new ObjectVersion(job.Uri, job.ETag), modelKey, prompts, ct).ConfigureAwait(false);
            var sent = 0;
            var chunk = new List<ImageJob>(SendChunk);
            for (var page = 1; page <= pageCount; page++)
            {
                var pending = tasks.Where(t => !done.Contains((page, t.Prompt))).ToList();
                if (pending.Count == 0)
                {
                    continue;
                }

                chunk.Add(job with { Page = page, Tasks = pending, EnqueuedAt = DateTimeOffset.UtcNow });
                if (chunk.Count == SendChunk)
                {
                    sent += await SendAsync(endpoint, chunk, ct).ConfigureAwait(false);
                }
            }

            sent += await SendAsync(endpoint, chunk, ct).ConfigureAwait(false);
            DocumentExpanded(logger, job.Uri, pageCount, sent, pageCount - sent);
        }
    }

    /// <summary>The name a document kind is stored under.</summary>
    internal static string KindName(DocumentKind kind) => kind == DocumentKind.Pdf ? "pdf" : "tiff";

    private static async Task<int> SendAsync(ISendEndpoint endpoint, List<ImageJob> chunk, CancellationToken ct)
    {
        if (chunk.Count == 0)
        {
            return 0;
        }

        await endpoint.SendBatch(chunk, ct).ConfigureAwait(false);
        var count = chunk.Count;
        chunk.Clear();
        return count;
    }

    private ObjectOutcome? Open(DocumentFile file, DocumentKind kind, CancellationToken ct)
    {
        try
        {
            using var reader = DocumentReader.Open(file.Path, kind, options.Value, logger, ct);
            // A TIFF of one page is an image, as it always was; only a PDF is a document whatever its length.
            return kind == DocumentKind.Tiff && reader.PageCount == 1 ? null : new ObjectOutcome.Document(kind, reader.PageCount, file.Size);
        }
        catch (DocumentException e)
        {
            return new ObjectOutcome.BrokenDocument(kind, file.Size, e.ReasonCode, e.Message);
        }
    }

    private const int SniffBytes = 1024;

    private static DocumentKind? Sniff(string path)
    {
        Span<byte> head = stackalloc byte[SniffBytes];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return DocumentSniffer.Sniff(head[..read]);
    }

    private static bool IsOcr(TaskSpec task) => PaliGemmaTask.Parse(task.Prompt).Kind == TaskKind.Ocr;

    [LoggerMessage(EventId = 2202, EventName = "DocumentExpanded", Level = LogLevel.Information,
        Message = "Document {Uri}: {Pages} pages, {Sent} page jobs sent, {Done} pages already done")]
    private static partial void DocumentExpanded(ILogger logger, string uri, int pages, int sent, int done);
}

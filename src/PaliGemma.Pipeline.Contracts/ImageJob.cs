namespace PaliGemma.Pipeline.Contracts;

/// <summary>
/// One image to process: published once per image by the producer onto its model's queue, consumed in batches by
/// workers that serve that model. Everything a worker needs travels in the message, so workers never read run state.
/// </summary>
public sealed record ImageJob
{
    /// <summary>The run that enqueued the image.</summary>
    public required Guid RunId { get; init; }

    /// <summary>The object URI exactly as listed: <c>s3://bucket/key</c> or an absolute local path.</summary>
    public required string Uri { get; init; }

    /// <summary>S3 ETag, or the content hash of a local file; the worker refuses an object whose ETag changed since listing.</summary>
    public required string ETag { get; init; }

    /// <summary>Object size in bytes at listing time.</summary>
    public required long Size { get; init; }

    /// <summary>The model key (<c>id:dtype</c>) that must process the image; also selects the queue.</summary>
    public required string Model { get; init; }

    /// <summary>The tasks to run on this image; their vision features are computed once and shared.</summary>
    public required IReadOnlyList<TaskSpec> Tasks { get; init; }

    /// <summary>When the producer published the job (for queue-wait metrics).</summary>
    public DateTimeOffset EnqueuedAt { get; init; }

    /// <summary>
    /// The 1-based page of a document (a PDF, or a TIFF of more than one page) this job is for; null for a whole
    /// object. A whole-object job that turns out to be a document is expanded by the worker into one job per page.
    /// </summary>
    public int? Page { get; init; }

    /// <summary>How document pages are rendered and read; null means the defaults.</summary>
    public DocumentJobOptions? Documents { get; init; }
}

/// <summary>Per-run document settings, carried in every job so distributed workers apply the run's choices.</summary>
public sealed record DocumentJobOptions
{
    /// <summary>Render PDF pages at this resolution instead of the one that gives the model's input size; null for that default.</summary>
    public int? PdfDpi { get; init; }

    /// <summary>
    /// <c>ocr</c> (default) runs the model on every page; <c>prefer</c> stores a PDF page's usable text layer as the
    /// result of the <c>ocr</c> task without running the model. Other tasks always run the model.
    /// </summary>
    public string? PdfTextLayer { get; init; }
}

/// <summary>A task prompt (e.g. "caption en") and its token limit.</summary>
/// <param name="Prompt">The task prompt as typed.</param>
/// <param name="MaxNewTokens">
/// Generation limit for this task. Workers refuse a message whose prompt or limit the model runtime's task validation
/// rejects (1 to 8192, PaliGemma 2's whole context) before batching it.
/// </param>
public sealed record TaskSpec(string Prompt, int MaxNewTokens);

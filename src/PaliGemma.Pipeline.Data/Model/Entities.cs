namespace PaliGemma.Pipeline.Data.Model;

/// <summary>One producer run: a listing of a source for one model and a set of tasks.</summary>
public sealed class RunEntity
{
    /// <summary>Run id, also carried in every job message.</summary>
    public Guid Id { get; set; }

    /// <summary>Unique human name, e.g. "nightly-2026-11-28".</summary>
    public required string Name { get; set; }

    /// <summary>Listed source prefix, e.g. s3://bucket/photos/ or a folder path.</summary>
    public required string Source { get; set; }

    /// <summary>Model id the run's jobs are for.</summary>
    public required string Model { get; set; }

    /// <summary>JSON array of task keys (jsonb on Postgres, text on SQLite).</summary>
    public required string Tasks { get; set; }

    /// <summary>When the run was created (UTC).</summary>
    public DateTime CreatedAt { get; set; }

    /// <summary>Last object key whose page was fully recorded; a resumed producer lists after it.</summary>
    public string? LastListedKey { get; set; }

    /// <summary>True once the listing reached its end; only then may missing objects be superseded.</summary>
    public bool ListingCompleted { get; set; }

    /// <summary>Objects recorded in run_items (listed and passing the filter).</summary>
    public long ListedCount { get; set; }

    /// <summary>Objects for which a job message was published.</summary>
    public long EnqueuedCount { get; set; }
}

/// <summary>One object listed by a run. Unique per (run, uri) so a resumed listing never duplicates.</summary>
public sealed class RunItemEntity
{
    /// <summary>Owning run.</summary>
    public Guid RunId { get; set; }

    /// <summary>Object URI.</summary>
    public required string Uri { get; set; }

    /// <summary>ETag (or content hash) seen by this run's listing.</summary>
    public required string ETag { get; set; }

    /// <summary>Object size in bytes.</summary>
    public long Size { get; set; }

    /// <summary>False when every task already had a result and the object was skipped.</summary>
    public bool Enqueued { get; set; }
}

/// <summary>Decoded image facts per object version (and page of a document), for COCO export.</summary>
public sealed class ImageEntity
{
    /// <summary>Surrogate key.</summary>
    public long Id { get; set; }

    /// <summary>Object URI.</summary>
    public required string Uri { get; set; }

    /// <summary>Object ETag.</summary>
    public required string ETag { get; set; }

    /// <summary>Page of a document, 1-based; 0 for the whole object (a plain image, or a document-level failure).</summary>
    public int Page { get; set; }

    /// <summary>Decoded width in pixels.</summary>
    public int Width { get; set; }

    /// <summary>Decoded height in pixels.</summary>
    public int Height { get; set; }

    /// <summary>Object size in bytes.</summary>
    public long Size { get; set; }
}

/// <summary>One model output for one task on one object version (or one page of it). Unique per (uri, etag, page, model, task).</summary>
public sealed class ResultEntity
{
    /// <summary>Surrogate key, reported in NOTIFY payloads.</summary>
    public long Id { get; set; }

    /// <summary>Object URI.</summary>
    public required string Uri { get; set; }

    /// <summary>Object ETag.</summary>
    public required string ETag { get; set; }

    /// <summary>Page of a document, 1-based; 0 for the whole object (a plain image, or a document-level failure).</summary>
    public int Page { get; set; }

    /// <summary>Model id.</summary>
    public required string Model { get; set; }

    /// <summary>Task key, e.g. "caption en".</summary>
    public required string Task { get; set; }

    /// <summary>Generated text (searchable).</summary>
    public string? Text { get; set; }

    /// <summary>Detection boxes / segmentation as JSON (jsonb on Postgres, text on SQLite).</summary>
    public string? Boxes { get; set; }

    /// <summary>Where the text came from: null for the model, "text_layer" for a PDF page's own text layer.</summary>
    public string? Origin { get; set; }

    /// <summary>Prompt tokens consumed.</summary>
    public int PromptTokens { get; set; }

    /// <summary>Tokens generated.</summary>
    public int GeneratedTokens { get; set; }

    /// <summary>Inference latency in milliseconds.</summary>
    public double LatencyMs { get; set; }

    /// <summary>Run that last produced this row.</summary>
    public Guid? RunId { get; set; }

    /// <summary>First insert (UTC).</summary>
    public DateTime CreatedAt { get; set; }

    /// <summary>Last upsert or supersede (UTC).</summary>
    public DateTime UpdatedAt { get; set; }

    /// <summary>True when the object got a new ETag or disappeared from a complete listing.</summary>
    public bool Superseded { get; set; }

    /// <summary>Change-feed position; bumped on every change so changed rows re-appear in the feed.</summary>
    public long ChangeSeq { get; set; }
}

/// <summary>A failed (uri, etag, page, model, task). Deleted when a later success lands; retried by the next run.</summary>
public sealed class FailureEntity
{
    /// <summary>Surrogate key.</summary>
    public long Id { get; set; }

    /// <summary>Object URI.</summary>
    public required string Uri { get; set; }

    /// <summary>Object ETag.</summary>
    public required string ETag { get; set; }

    /// <summary>Page of a document, 1-based; 0 for the whole object (a plain image, or a document-level failure).</summary>
    public int Page { get; set; }

    /// <summary>Model id.</summary>
    public required string Model { get; set; }

    /// <summary>Task key.</summary>
    public required string Task { get; set; }

    /// <summary>Machine-readable reason, e.g. "decode", "too_large".</summary>
    public required string ReasonCode { get; set; }

    /// <summary>Human-readable message.</summary>
    public string? Message { get; set; }

    /// <summary>How many deliveries failed.</summary>
    public int Attempts { get; set; }

    /// <summary>Run that last failed it.</summary>
    public Guid? RunId { get; set; }

    /// <summary>First failure (UTC).</summary>
    public DateTime CreatedAt { get; set; }

    /// <summary>Last failure (UTC).</summary>
    public DateTime UpdatedAt { get; set; }
}

/// <summary>
/// A document archive (PDF, multi-page TIFF) seen by a worker: it expands into pages, each a unit of work. Keyed by
/// (uri, etag). A null page count means the document could not be opened (its failure is a failures row at page 0).
/// </summary>
public sealed class DocumentEntity
{
    /// <summary>Object URI.</summary>
    public required string Uri { get; set; }

    /// <summary>Object ETag.</summary>
    public required string ETag { get; set; }

    /// <summary>"pdf" or "tiff".</summary>
    public required string Kind { get; set; }

    /// <summary>Pages the document holds, or null when it could not be opened.</summary>
    public int? PageCount { get; set; }

    /// <summary>Object size in bytes.</summary>
    public long Size { get; set; }

    /// <summary>Run whose worker expanded it.</summary>
    public Guid? RunId { get; set; }

    /// <summary>First recorded (UTC).</summary>
    public DateTime CreatedAt { get; set; }
}

namespace PaliGemma.Pipeline.Data;

/// <summary>An object version: URI plus ETag (or content hash for local files), and a page of it where it is a document.</summary>
public sealed record ObjectVersion(string Uri, string ETag)
{
    /// <summary>Page of a document, 1-based; 0 (the default) for the whole object.</summary>
    public int Page { get; init; }
}

/// <summary>What a new run lists and runs.</summary>
/// <param name="Name">Unique run name.</param>
/// <param name="Source">Listed source prefix (s3://bucket/prefix/ or a folder path).</param>
/// <param name="Model">Model id.</param>
/// <param name="Tasks">Task keys, e.g. "caption en", "ocr".</param>
public sealed record RunDefinition(string Name, string Source, string Model, IReadOnlyList<string> Tasks);

/// <summary>A stored run, including its enumeration state for resume.</summary>
public sealed record RunInfo(
    Guid Id,
    string Name,
    string Source,
    string Model,
    IReadOnlyList<string> Tasks,
    DateTime CreatedAt,
    string? LastListedKey,
    bool ListingCompleted,
    long ListedCount,
    long EnqueuedCount);

/// <summary>An object listed by a run. <paramref name="Enqueued"/> is false when all its tasks were reused.</summary>
public sealed record RunItemRecord(string Uri, string ETag, long Size, bool Enqueued);

/// <summary>Where one partition of a parallel listing stands: the last key recorded, and whether it was listed to its end.</summary>
public sealed record ListingPartition(string? LastKey, bool Completed);

/// <summary>Decoded image facts for one object version, or one page of a document (then Size is the document's).</summary>
public sealed record ImageRecord(string Uri, string ETag, int Width, int Height, long Size)
{
    /// <summary>Page of a document, 1-based; 0 (the default) for the whole object.</summary>
    public int Page { get; init; }
}

/// <summary>A successful model output to upsert. BoxesJson holds boxes/masks as a JSON document, or null.</summary>
public sealed record ResultRecord(
    string Uri,
    string ETag,
    string Model,
    string Task,
    string? Text,
    string? BoxesJson,
    int PromptTokens,
    int GeneratedTokens,
    double LatencyMs,
    Guid? RunId)
{
    /// <summary>Page of a document, 1-based; 0 (the default) for the whole object.</summary>
    public int Page { get; init; }

    /// <summary>Where the text came from: null for the model, <see cref="TextLayerOrigin"/> for a PDF page's own text layer.</summary>
    public string? Origin { get; init; }

    /// <summary>The <see cref="Origin"/> of text taken from a PDF's text layer without running the model.</summary>
    public const string TextLayerOrigin = "text_layer";
}

/// <summary>A failed (object, task) to record. Ignored when a result for the same key already exists.</summary>
public sealed record FailureRecord(
    string Uri,
    string ETag,
    string Model,
    string Task,
    string ReasonCode,
    string? Message,
    Guid? RunId)
{
    /// <summary>Page of a document, 1-based; 0 (the default) for the whole object, which for a document is its own failure.</summary>
    public int Page { get; init; }
}

/// <summary>
/// A document archive a worker expanded into pages. <paramref name="PageCount"/> is null when the document could not be
/// opened (its failure is then a <see cref="FailureRecord"/> at page 0).
/// </summary>
/// <param name="Uri">Object URI.</param>
/// <param name="ETag">Object ETag.</param>
/// <param name="Kind">"pdf" or "tiff".</param>
/// <param name="PageCount">Pages, or null when unknown.</param>
/// <param name="Size">Object size in bytes.</param>
/// <param name="RunId">Run whose worker expanded it.</param>
public sealed record DocumentRecord(string Uri, string ETag, string Kind, int? PageCount, long Size, Guid? RunId);

/// <summary>Everything one worker batch persists, written in one transaction.</summary>
public sealed record ResultBatch(
    IReadOnlyList<ResultRecord> Results,
    IReadOnlyList<FailureRecord> Failures,
    IReadOnlyList<ImageRecord> Images)
{
    /// <summary>Documents to record (upsert by (uri, etag)) in the same transaction.</summary>
    public IReadOnlyList<DocumentRecord> Documents { get; init; } = [];

    /// <summary>A batch of results only.</summary>
    public static ResultBatch Of(params ResultRecord[] results) => new(results, [], []);
}

/// <summary>A stored result as seen through current_results.</summary>
public sealed record StoredResult(
    long Id,
    string Uri,
    string ETag,
    string Model,
    string Task,
    string? Text,
    string? BoxesJson,
    Guid? RunId,
    DateTime UpdatedAt)
{
    /// <summary>Page of a document, 1-based; null for a whole object.</summary>
    public int? Page { get; init; }
}

/// <summary>
/// A position in the change feed. On Postgres <see cref="TransactionId"/> is the writing transaction's xid8;
/// on SQLite it is always 0 and <see cref="Sequence"/> alone orders the feed.
/// </summary>
public readonly record struct ChangeCursor(long TransactionId, long Sequence)
{
    /// <summary>Before the first row.</summary>
    public static ChangeCursor Start => default;

    /// <summary>"txid:seq", for storing the cursor in a downstream indexer.</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{TransactionId}:{Sequence}");

    /// <summary>Parses <see cref="ToString"/> output.</summary>
    /// <exception cref="FormatException">The text is not two non-negative whole numbers separated by ':'.</exception>
    public static ChangeCursor Parse(string text) =>
        TryParse(text, out var cursor)
            ? cursor
            : throw new FormatException($"Change cursor '{text}' is not of the form <txid>:<seq>.");

    /// <summary>Parses <see cref="ToString"/> output; false for anything else (signs, spaces and other digits included).</summary>
    public static bool TryParse(string? text, out ChangeCursor cursor)
    {
        cursor = default;
        var colon = text?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (colon < 0 ||
            !long.TryParse(text.AsSpan(0, colon), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var tx) ||
            !long.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seq))
        {
            return false;
        }

        cursor = new ChangeCursor(tx, seq);
        return true;
    }
}

/// <summary>One changed result row in the feed. Superseded rows appear too, so indexers can delete them.</summary>
public sealed record ChangeFeedRow(
    long Id,
    string Uri,
    string ETag,
    string Model,
    string Task,
    string? Text,
    string? BoxesJson,
    bool Superseded,
    DateTime UpdatedAt,
    ChangeCursor Position)
{
    /// <summary>Prompt tokens the model read (image tokens included).</summary>
    public int PromptTokens { get; init; }

    /// <summary>Tokens the model generated.</summary>
    public int GeneratedTokens { get; init; }

    /// <summary>Page of a document, 1-based; null for a whole object.</summary>
    public int? Page { get; init; }
}

/// <summary>A page of the change feed and the cursor to pass next time (unchanged when the page is empty).</summary>
public sealed record ChangePage(IReadOnlyList<ChangeFeedRow> Rows, ChangeCursor Next);

/// <summary>
/// Progress of a run. Combinations = units x tasks, where a listed object is one unit, or as many as its pages once a
/// worker has recorded it as a document with a page count; Pending = Combinations - Done - Failed (never negative).
/// </summary>
public sealed record RunStatus(
    Guid RunId,
    string Name,
    bool ListingCompleted,
    long Listed,
    long Enqueued,
    long Combinations,
    long Done,
    long Failed,
    long Pending,
    double ThroughputPerMinute,
    TimeSpan? Eta)
{
    /// <summary>Listed objects a worker recorded as documents.</summary>
    public long Documents { get; init; }

    /// <summary>Pages of those documents (those that could be opened).</summary>
    public long Pages { get; init; }

    /// <summary>(page, task) combinations of those documents with a result.</summary>
    public long PagesDone { get; init; }

    /// <summary>(page, task) combinations of those documents with only a failure.</summary>
    public long PagesFailed { get; init; }

    /// <summary>Documents whose own failure is recorded (could not be opened), counted once each.</summary>
    public long DocumentsFailed { get; init; }
}

/// <summary>A full-text hit from current results; higher <see cref="Rank"/> is better.</summary>
public sealed record SearchHit(string Uri, string Task, string Model, string Snippet, double Rank)
{
    /// <summary>Page of the document the hit is on; null for a whole object.</summary>
    public int? Page { get; init; }
}

/// <summary>Status of one (object, task) of a run in an export.</summary>
public enum ExportStatus
{
    /// <summary>A result exists (from this run or reused from an earlier one).</summary>
    Ok,

    /// <summary>Only a failure exists.</summary>
    Failed,

    /// <summary>Neither yet.</summary>
    Pending,
}

/// <summary>One (object, task) row of a run's export, with the image size for COCO.</summary>
public sealed record ExportRow(
    string Uri,
    string ETag,
    string Task,
    ExportStatus Status,
    string? Text,
    string? BoxesJson,
    string? ReasonCode,
    string? FailureMessage,
    int? Width,
    int? Height)
{
    /// <summary>Page of a document, 1-based; null for a whole object and for a document's own failure.</summary>
    public int? Page { get; init; }

    /// <summary>"pdf" or "tiff" when the object is a document; null for a plain image.</summary>
    public string? DocumentKind { get; init; }

    /// <summary>The document's page count (null when unknown or not a document).</summary>
    public int? PageCount { get; init; }
}

/// <summary>A (uri, etag, page, task) that already has a successful result for the queried model.</summary>
public sealed record ExistingResult(string Uri, string ETag, string Task)
{
    /// <summary>Page of a document, 1-based; 0 for the whole object.</summary>
    public int Page { get; init; }
}

/// <summary>One page of a document with its current results and failures; neither means the page is still pending.</summary>
/// <param name="Page">1-based page number.</param>
/// <param name="Width">Rendered width in pixels, when a worker recorded it.</param>
/// <param name="Height">Rendered height in pixels, when a worker recorded it.</param>
/// <param name="Results">Current results of the page, ordered by task.</param>
/// <param name="Failures">Failed tasks of the page (those without a result), ordered by task.</param>
public sealed record DocumentPageView(
    int Page,
    int? Width,
    int? Height,
    IReadOnlyList<StoredResult> Results,
    IReadOnlyList<(string Task, string ReasonCode, string? Message)> Failures);

/// <summary>A failure as shown with a document: reason code, message, attempts.</summary>
public sealed record FailureView(string Task, string ReasonCode, string? Message, int Attempts);

/// <summary>
/// The latest version of a document for one model: its pages in order and how far they are. The document's tasks are
/// those with any result or failure on it. A page is done when it has a result for each of them, failed when it has any
/// failure; <see cref="Complete"/> when the page count is known and every page is done.
/// </summary>
public sealed record DocumentView(
    string Uri,
    string ETag,
    string Kind,
    int? PageCount,
    IReadOnlyList<DocumentPageView> Pages,
    FailureView? Failure,
    int PagesDone,
    int PagesFailed,
    bool Complete);

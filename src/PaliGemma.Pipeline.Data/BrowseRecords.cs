namespace PaliGemma.Pipeline.Data;

/// <summary>
/// A page request over current results: full text when <paramref name="Text"/> has words, else every current result
/// newest first. Filters combine with AND.
/// </summary>
/// <param name="Text">Words to find (Postgres websearch syntax, SQLite every word required); null or blank browses.</param>
/// <param name="RunId">Only objects the run listed (reused results of earlier runs included), for the run's model.</param>
/// <param name="Task">Only this task key, e.g. "caption en".</param>
/// <param name="Model">Only this model key, e.g. "tiny:fp32".</param>
/// <param name="Offset">Hits to skip (0-based).</param>
/// <param name="Limit">Most hits on the page.</param>
public sealed record ResultQuery(string? Text, Guid? RunId = null, string? Task = null, string? Model = null, int Offset = 0, int Limit = 20);

/// <summary>One hit of a <see cref="ResultQuery"/>; <see cref="Rank"/> is 0 when browsing without text.</summary>
public sealed record ResultHit(long Id, string Uri, string Task, string Model, Guid? RunId, string Snippet, double Rank, bool HasBoxes)
{
    /// <summary>Page of the document the hit is on; null for a whole object.</summary>
    public int? Page { get; init; }
}

/// <summary>A page of hits and whether another page follows.</summary>
public sealed record ResultPage(IReadOnlyList<ResultHit> Hits, bool HasMore);

/// <summary>
/// Everything stored about one result row: the record as the worker wrote it, plus what the store adds: its id, the
/// name and source of the run that wrote it (to read the object back from), superseding, and the image size when a
/// worker recorded it.
/// </summary>
public sealed record ResultDetail(
    long Id,
    ResultRecord Record,
    string? RunName,
    string? RunSource,
    bool Superseded,
    DateTime UpdatedAt,
    int? Width,
    int? Height)
{
    /// <summary>Object URI.</summary>
    public string Uri => Record.Uri;

    /// <summary>Object ETag the result was made from.</summary>
    public string ETag => Record.ETag;
}

/// <summary>The failures of a run that share one reason code.</summary>
public sealed record FailureGroup(string ReasonCode, long Count, string? ExampleMessage);

/// <summary>One failed (object, task) of a run.</summary>
public sealed record FailureEntry(long Id, string Uri, string Task, string ReasonCode, string? Message, int Attempts, DateTime UpdatedAt)
{
    /// <summary>Page of a document, 1-based; 0 for the whole object (a plain image, or a document that could not be opened).</summary>
    public int Page { get; init; }
}

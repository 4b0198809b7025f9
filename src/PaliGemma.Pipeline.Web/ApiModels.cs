using System.Text.Json;
using System.Text.Json.Serialization;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Web;

/// <summary>
/// A run (as stored) and its progress (the store's <see cref="RunStatus"/>: combinations = listed objects x tasks,
/// done, failed, pending, throughput per minute over <paramref name="ThroughputWindowMinutes"/>).
/// <paramref name="EtaSeconds"/> is the time until pending reaches zero at that throughput; null when nothing was
/// written in the window.
/// </summary>
public sealed record RunSummary(RunInfo Run, RunStatus Progress, int ThroughputWindowMinutes, double? EtaSeconds);

/// <summary>Failures of a run sharing one reason.</summary>
public sealed record FailureGroupView(string Reason, long Count, string? ExampleMessage);

/// <summary>
/// A run, its failures grouped by reason, and the CLI command that retries them (a new pass of the run skips
/// successes and retries every failure; null when nothing failed).
/// </summary>
public sealed record RunDetail(RunSummary Summary, IReadOnlyList<FailureGroupView> FailureGroups, string? RetryCommand);

/// <summary>One failed (object, task); <paramref name="Page"/> is the document page (1-based), null for a whole object.</summary>
public sealed record FailureView(long Id, string Uri, int? Page, string Task, string Reason, string? Message, int Attempts, DateTime UpdatedAt);

/// <summary>
/// A search hit; fetch the result at /api/results/{id} and its thumbnail at /api/results/{id}/thumbnail.
/// <paramref name="Page"/> is the document page the hit is on (1-based), null for a whole object.
/// </summary>
public sealed record SearchHitView(long Id, string Uri, string Task, string Model, Guid? RunId, string Snippet, double Rank, bool HasBoxes, int? Page);

/// <summary>A page of hits.</summary>
public sealed record SearchPageView(IReadOnlyList<SearchHitView> Hits, int Offset, int Limit, bool HasMore);

/// <summary>
/// One result. <paramref name="Boxes"/> is the stored JSON array: entries <c>{"label","x1","y1","x2","y2"}</c> in original
/// image pixels (for a document page: the page as rendered, <paramref name="Width"/> x <paramref name="Height"/>),
/// optionally with <c>"mask": {"size": [h, w], "counts": "COCO compressed RLE"}</c>. <paramref name="Page"/> is the
/// document page (1-based) the result belongs to, null for a whole object; the document is at /api/documents?uri=.
/// </summary>
public sealed record ResultView(
    long Id,
    string Uri,
    [property: JsonPropertyName("etag")] string ETag,
    string Model,
    string Task,
    string? Text,
    JsonElement? Boxes,
    int PromptTokens,
    int GeneratedTokens,
    double LatencyMs,
    Guid? RunId,
    string? RunName,
    bool Superseded,
    DateTime UpdatedAt,
    int? Width,
    int? Height,
    int? Page);

/// <summary>An error body: what went wrong, in words.</summary>
public sealed record ApiError(string Error);

/// <summary>A task's output on one document page: fetch it whole at /api/results/{id}.</summary>
public sealed record PageResultView(long Id, string Task, string? Text, JsonElement? Boxes);

/// <summary>A task that failed, on a page or (as a document's own failure) on the whole document.</summary>
public sealed record PageFailureView(string Task, string Reason, string? Message);

/// <summary>
/// One page of a document. <paramref name="Status"/>: <c>done</c> (a result for every task of the document),
/// <c>failed</c> (any task failed), <c>pending</c> (otherwise). <paramref name="Thumbnail"/> is the URL of its
/// thumbnail, which is rendered whether or not the page has a result.
/// </summary>
public sealed record DocumentPageItem(
    int Page,
    int? Width,
    int? Height,
    string Status,
    IReadOnlyList<PageResultView> Results,
    IReadOnlyList<PageFailureView> Failures,
    string Thumbnail);

/// <summary>
/// A document (the latest recorded version) as one model saw it: its pages in order, how many are done, failed and
/// pending, and the document's own failure when it could not be opened (then <paramref name="PageCount"/> is null).
/// <paramref name="Complete"/> when the page count is known and every page is done.
/// </summary>
public sealed record DocumentDetail(
    string Uri,
    [property: JsonPropertyName("etag")] string ETag,
    string Kind,
    string Model,
    int? PageCount,
    int PagesDone,
    int PagesFailed,
    int PagesPending,
    bool Complete,
    PageFailureView? Failure,
    IReadOnlyList<DocumentPageItem> Pages);

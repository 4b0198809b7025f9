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

/// <summary>One failed (object, task).</summary>
public sealed record FailureView(long Id, string Uri, string Task, string Reason, string? Message, int Attempts, DateTime UpdatedAt);

/// <summary>A search hit; fetch the result at /api/results/{id} and its thumbnail at /api/results/{id}/thumbnail.</summary>
public sealed record SearchHitView(long Id, string Uri, string Task, string Model, Guid? RunId, string Snippet, double Rank, bool HasBoxes);

/// <summary>A page of hits.</summary>
public sealed record SearchPageView(IReadOnlyList<SearchHitView> Hits, int Offset, int Limit, bool HasMore);

/// <summary>
/// One result. <paramref name="Boxes"/> is the stored JSON array: entries <c>{"label","x1","y1","x2","y2"}</c> in original
/// image pixels, optionally with <c>"mask": {"size": [h, w], "counts": "COCO compressed RLE"}</c>.
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
    int? Height);

/// <summary>An error body: what went wrong, in words.</summary>
public sealed record ApiError(string Error);

using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Web;

/// <summary>The store the browser reads, and the SQLite file behind it (for retry commands), if any.</summary>
/// <param name="Store">An existing, migrated store.</param>
/// <param name="SqliteFile">The SQLite file path, or null for Postgres or a non-file SQLite source.</param>
public sealed record BrowserStore(ResultStore Store, string? SqliteFile);

/// <summary>The read-only HTTP API under /api. Every id in a route is a database id, never a key or a path.</summary>
internal static class BrowserEndpoints
{
    private const int MaxRuns = 500;
    private const int MaxPage = 200;

    /// <summary>Most changes one <c>GET /api/changes</c> returns; a larger limit is clamped to it.</summary>
    internal const int MaxChanges = 1000;

    /// <summary>Changes per page when the request gives no limit.</summary>
    internal const int DefaultChanges = 100;

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api").WithTags("results browser");
        api.MapGet("/runs", ListRunsAsync).WithName("ListRuns").WithSummary("Runs, newest first, with counts, throughput and ETA.");
        api.MapGet("/runs/{id:guid}", GetRunAsync).WithName("GetRun").WithSummary("One run: counts, throughput, ETA, failures grouped by reason, and the retry command.");
        api.MapGet("/runs/{id:guid}/failures", GetFailuresAsync).WithName("GetRunFailures").WithSummary("A page of a run's failures.");
        api.MapGet("/search", SearchAsync).WithName("Search").WithSummary("Full-text search over current results (or all, newest first, without q), filtered by run, task and model, ranked and paged.");
        api.MapGet("/results/{id:long}", GetResultAsync).WithName("GetResult").WithSummary("One result: text, boxes and masks, token counts.");
        api.MapGet("/results/{id:long}/image", GetImageAsync).WithName("GetResultImage").WithSummary("The result's object as stored (size-limited); for a document page, that page rendered as PNG in the aspect of its recorded size (width, height: what its boxes refer to), at least 1024 px on its longest side.")
            .Produces(StatusCodes.Status200OK, null, "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff")
            .Produces<ApiError>(StatusCodes.Status404NotFound).Produces<ApiError>(StatusCodes.Status409Conflict)
            .Produces<ApiError>(StatusCodes.Status413PayloadTooLarge).Produces<ApiError>(StatusCodes.Status415UnsupportedMediaType);
        api.MapGet("/results/{id:long}/thumbnail", GetThumbnailAsync).WithName("GetResultThumbnail").WithSummary("A JPEG thumbnail of the result's object (for a document page, of that page), cached in memory.")
            .Produces(StatusCodes.Status200OK, null, "image/jpeg")
            .Produces<ApiError>(StatusCodes.Status404NotFound).Produces<ApiError>(StatusCodes.Status409Conflict)
            .Produces<ApiError>(StatusCodes.Status413PayloadTooLarge).Produces<ApiError>(StatusCodes.Status415UnsupportedMediaType);
        api.MapGet("/changes", GetChangesAsync).WithName("GetChanges")
            .WithSummary($"The change feed in commit order, as `pgpipe changes` prints it: results written (op upsert) or no longer current (op supersede), after the cursor `after` (default: the beginning), at most `limit` (default {DefaultChanges}, clamped to 1..{MaxChanges}). Ask again with `next`; an empty page means caught up.")
            .Produces<ChangeLinePage>(StatusCodes.Status200OK).Produces<ApiError>(StatusCodes.Status400BadRequest);
        DocumentEndpoints.Map(api);
    }

    private static async Task<Ok<List<RunSummary>>> ListRunsAsync(BrowserStore store, IOptions<ResultsBrowserOptions> options, int? limit, CancellationToken ct)
    {
        var runs = await store.Store.ListRunsAsync(Math.Clamp(limit ?? 100, 1, MaxRuns), ct).ConfigureAwait(false);
        var summaries = new List<RunSummary>(runs.Count);
        foreach (var run in runs)
        {
            summaries.Add(await SummarizeAsync(store.Store, run, options.Value.ThroughputWindowMinutes, ct).ConfigureAwait(false));
        }

        return TypedResults.Ok(summaries);
    }

    private static async Task<Results<Ok<RunDetail>, NotFound<ApiError>>> GetRunAsync(Guid id, BrowserStore store, IOptions<ResultsBrowserOptions> options, CancellationToken ct)
    {
        if (await store.Store.GetRunAsync(id, ct).ConfigureAwait(false) is not { } run)
        {
            return TypedResults.NotFound(new ApiError($"No run with id {id}."));
        }

        var summary = await SummarizeAsync(store.Store, run, options.Value.ThroughputWindowMinutes, ct).ConfigureAwait(false);
        var groups = await store.Store.GetFailureGroupsAsync(id, ct).ConfigureAwait(false);
        var retry = groups.Count == 0 ? null : RetryCommand.For(run, store.Store.Provider, store.SqliteFile);
        return TypedResults.Ok(new RunDetail(summary, groups.Select(g => new FailureGroupView(g.ReasonCode, g.Count, g.ExampleMessage)).ToList(), retry));
    }

    private static async Task<Results<Ok<List<FailureView>>, NotFound<ApiError>>> GetFailuresAsync(Guid id, BrowserStore store, int? offset, int? limit, CancellationToken ct)
    {
        if (await store.Store.GetRunAsync(id, ct).ConfigureAwait(false) is null)
        {
            return TypedResults.NotFound(new ApiError($"No run with id {id}."));
        }

        var rows = await store.Store.GetFailuresAsync(id, Math.Max(0, offset ?? 0), Math.Clamp(limit ?? 50, 1, MaxPage), ct).ConfigureAwait(false);
        return TypedResults.Ok(rows.Select(f => new FailureView(f.Id, f.Uri, f.Page > 0 ? f.Page : null, f.Task, f.ReasonCode, f.Message, f.Attempts, f.UpdatedAt)).ToList());
    }

    private static async Task<Ok<SearchPageView>> SearchAsync(BrowserStore store, string? q, Guid? run, string? task, string? model, int? offset, int? limit, CancellationToken ct)
    {
        var query = new ResultQuery(q, run, string.IsNullOrEmpty(task) ? null : task, string.IsNullOrEmpty(model) ? null : model,
            Math.Max(0, offset ?? 0), Math.Clamp(limit ?? 24, 1, MaxPage));
        var page = await store.Store.QueryResultsAsync(query, ct).ConfigureAwait(false);
        var hits = page.Hits.Select(h => new SearchHitView(h.Id, h.Uri, h.Task, h.Model, h.RunId, h.Snippet, h.Rank, h.HasBoxes, h.Page)).ToList();
        return TypedResults.Ok(new SearchPageView(hits, query.Offset, query.Limit, page.HasMore));
    }

    private static async Task<Results<Ok<ResultView>, NotFound<ApiError>>> GetResultAsync(long id, BrowserStore store, CancellationToken ct)
    {
        if (await store.Store.GetResultAsync(id, ct).ConfigureAwait(false) is not { } r)
        {
            return TypedResults.NotFound(new ApiError($"No result with id {id}."));
        }

        var w = r.Record;
        return TypedResults.Ok(new ResultView(r.Id, w.Uri, w.ETag, w.Model, w.Task, w.Text, ParseBoxes(w.BoxesJson), w.PromptTokens, w.GeneratedTokens,
            w.LatencyMs, w.RunId, r.RunName, r.Superseded, r.UpdatedAt, r.Width, r.Height, w.Page > 0 ? w.Page : null));
    }

    private static Task<IResult> GetImageAsync(long id, BrowserStore store, ImageService images, HttpContext http, CancellationToken ct) =>
        ServeImageAsync(id, store, http, r => images.GetImageAsync(r, ct), ct);

    private static Task<IResult> GetThumbnailAsync(long id, BrowserStore store, ImageService images, HttpContext http, CancellationToken ct) =>
        ServeImageAsync(id, store, http, r => images.GetThumbnailAsync(r, ct), ct);

    private static async Task<IResult> ServeImageAsync(long id, BrowserStore store, HttpContext http, Func<ResultDetail, Task<ImagePayload>> load, CancellationToken ct)
    {
        if (await store.Store.GetResultAsync(id, ct).ConfigureAwait(false) is not { } result)
        {
            return TypedResults.NotFound(new ApiError($"No result with id {id}."));
        }

        // The bytes belong to one object version (uri, etag, page), which a result id never changes.
        return await SendImageAsync(http, () => load(result), "private, max-age=3600").ConfigureAwait(false);
    }

    /// <summary>The image <paramref name="load"/> makes, or the reason it cannot, as JSON with the matching status.</summary>
    internal static async Task<IResult> SendImageAsync(HttpContext http, Func<Task<ImagePayload>> load, string cacheControl)
    {
        try
        {
            var payload = await load().ConfigureAwait(false);
            http.Response.Headers.CacheControl = cacheControl;
            return TypedResults.Bytes(payload.Bytes, payload.ContentType);
        }
        catch (ImageUnavailableException ex)
        {
            return TypedResults.Json(new ApiError(ex.Message), statusCode: ex.StatusCode);
        }
    }

    private static async Task<IResult> GetChangesAsync(BrowserStore store, string? after, int? limit, CancellationToken ct)
    {
        var cursor = ChangeCursor.Start;
        if (!string.IsNullOrEmpty(after) && !ChangeCursor.TryParse(after, out cursor))
        {
            return TypedResults.BadRequest(new ApiError("after is not a change cursor; pass the \"cursor\" of a change (or \"next\" of a page) returned by this API or by pgpipe changes."));
        }

        var page = await store.Store.ReadChangesAsync(cursor, Math.Clamp(limit ?? DefaultChanges, 1, MaxChanges), ct).ConfigureAwait(false);
        // The feed's own serialisation, so the lines are byte for byte those of pgpipe changes.
        return TypedResults.Json(new ChangeLinePage(page.Rows.Select(ChangeLine.From).ToList(), page.Next.ToString()), ChangeFeedJson.Options);
    }

    private static async Task<RunSummary> SummarizeAsync(ResultStore store, RunInfo run, int windowMinutes, CancellationToken ct)
    {
        var s = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(windowMinutes), ct).ConfigureAwait(false);
        return new RunSummary(run, s, windowMinutes, s.Eta is { } eta ? Math.Round(eta.TotalSeconds) : null);
    }

    /// <summary>The stored boxes document as JSON (not a string holding JSON); null when absent or unparseable.</summary>
    internal static JsonElement? ParseBoxes(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

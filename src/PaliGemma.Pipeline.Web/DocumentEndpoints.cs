using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Web;

/// <summary>
/// Documents under /api/documents. A document is addressed by its object URI (a query parameter, never a path): the
/// store answers only for URIs a worker recorded as documents, so a URI cannot reach anything else.
/// </summary>
internal static class DocumentEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/documents", GetDocumentAsync).WithName("GetDocument")
            .WithSummary("A document's pages in order, each with its size, results, failures and thumbnail URL; pages done, failed and pending; the document's own failure. model defaults to that of the run that recorded it.")
            .Produces<DocumentDetail>(StatusCodes.Status200OK).Produces<ApiError>(StatusCodes.Status400BadRequest).Produces<ApiError>(StatusCodes.Status404NotFound);
        api.MapGet("/documents/thumbnail", GetPageThumbnailAsync).WithName("GetDocumentPageThumbnail")
            .WithSummary("A JPEG thumbnail of one page of a document (uri, page), whether or not the page has a result; cached in memory.")
            .Produces(StatusCodes.Status200OK, null, "image/jpeg")
            .Produces<ApiError>(StatusCodes.Status400BadRequest).Produces<ApiError>(StatusCodes.Status404NotFound).Produces<ApiError>(StatusCodes.Status409Conflict)
            .Produces<ApiError>(StatusCodes.Status413PayloadTooLarge).Produces<ApiError>(StatusCodes.Status415UnsupportedMediaType);
    }

    /// <summary>The thumbnail URL of a page that has no result to address it by.</summary>
    internal static string ThumbnailUrl(string uri, int page) =>
        $"/api/documents/thumbnail?uri={Uri.EscapeDataString(uri)}&page={page.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    private static async Task<Results<Ok<DocumentDetail>, BadRequest<ApiError>, NotFound<ApiError>>> GetDocumentAsync(BrowserStore store, string? uri, string? model, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(uri))
        {
            return TypedResults.BadRequest(new ApiError("uri is missing; pass the document's object URI, e.g. /api/documents?uri=s3://bucket/report.pdf."));
        }

        if (await store.Store.GetDocumentSourceAsync(uri, ct).ConfigureAwait(false) is not { } source)
        {
            return TypedResults.NotFound(new ApiError($"No document is recorded at {uri}; only objects a worker expanded into pages are documents."));
        }

        var chosen = string.IsNullOrEmpty(model) ? source.RunModel : model;
        if (chosen is null)
        {
            return TypedResults.BadRequest(new ApiError("model is missing and the run that recorded the document is gone; pass model, e.g. &model=paligemma2-3b-pt-448:fp32."));
        }

        var view = await store.Store.GetDocumentAsync(uri, chosen, ct).ConfigureAwait(false);
        return view is null
            ? TypedResults.NotFound(new ApiError($"No document is recorded at {uri}."))
            : TypedResults.Ok(Describe(view, chosen));
    }

    private static Task<IResult> GetPageThumbnailAsync(BrowserStore store, ImageService images, HttpContext http, string? uri, int? page, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(uri) || page is not > 0)
        {
            return Task.FromResult<IResult>(TypedResults.BadRequest(new ApiError("Pass uri (the document's object URI) and page (1-based).")));
        }

        return BrowserEndpoints.SendImageAsync(http, async () =>
        {
            var source = await store.Store.GetDocumentSourceAsync(uri, ct).ConfigureAwait(false)
                ?? throw new ImageUnavailableException(StatusCodes.Status404NotFound, $"No document is recorded at {uri}.");
            if (source.PageCount is null)
            {
                throw new ImageUnavailableException(StatusCodes.Status404NotFound, "The document could not be opened, so it has no pages.");
            }

            if (page > source.PageCount)
            {
                throw new ImageUnavailableException(StatusCodes.Status404NotFound, $"The document has {source.PageCount} pages; there is no page {page}.");
            }

            return await images.GetPageThumbnailAsync(new PageAddress(source.RunSource, uri, source.ETag, page.Value), ct).ConfigureAwait(false);
        // (uri, page) follows the latest version of the document, so a copy may only be reused briefly.
        }, "private, max-age=60");
    }

    internal static DocumentDetail Describe(DocumentView view, string model)
    {
        // The rule the store counts pages by: a page is done when it has every task the document has any outcome for.
        var tasks = view.Pages.SelectMany(p => p.Results.Select(r => r.Task).Concat(p.Failures.Select(f => f.Task)))
            .Concat(view.Failure is { } own ? [own.Task] : [])
            .ToHashSet(StringComparer.Ordinal);
        var pages = view.Pages.Select(p =>
        {
            var status = p.Failures.Count > 0 ? "failed"
                : tasks.Count > 0 && tasks.All(t => p.Results.Any(r => r.Task == t)) ? "done"
                : "pending";
            var thumbnail = p.Results.Count > 0 ? $"/api/results/{p.Results[0].Id}/thumbnail" : ThumbnailUrl(view.Uri, p.Page);
            return new DocumentPageItem(p.Page, p.Width, p.Height, status,
                p.Results.Select(r => new PageResultView(r.Id, r.Task, r.Text, BrowserEndpoints.ParseBoxes(r.BoxesJson))).ToList(),
                p.Failures.Select(f => new PageFailureView(f.Task, f.ReasonCode, f.Message)).ToList(),
                thumbnail);
        }).ToList();
        var failure = view.Failure is { } f ? new PageFailureView(f.Task, f.ReasonCode, f.Message) : null;
        return new DocumentDetail(view.Uri, view.ETag, view.Kind, model, view.PageCount, view.PagesDone, view.PagesFailed,
            Math.Max(0, pages.Count - view.PagesDone - view.PagesFailed), view.Complete, failure, pages);
    }
}

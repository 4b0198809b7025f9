using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>The document view and page images over <see cref="DocumentStore"/>; one concrete class per provider.</summary>
public abstract class DocumentScenarios<TStore>(TStore seeded) : IClassFixture<TStore>
    where TStore : DocumentStore
{
    protected TStore Seeded { get; } = seeded;

    private string ScanUri => Seeded.Objects["scan.pdf"].Uri;

    private async Task<(HttpStatusCode Status, JsonNode? Body)> GetJsonAsync(string url)
    {
        var (status, bytes, _) = await GetAsync(url);
        return (status, bytes.Length == 0 ? null : JsonNode.Parse(bytes));
    }

    private async Task<(HttpStatusCode Status, byte[] Body, string? ContentType)> GetAsync(string url)
    {
        Seeded.SkipOrThrowIfUnavailable();
        await using var factory = Seeded.CreateFactory();
        using var client = factory.CreateClient();
        using var response = await client.GetAsync(url);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync(), response.Content.Headers.ContentType?.MediaType);
    }

    private static string Query(string uri) => Uri.EscapeDataString(uri);

    [SkippableFact]
    public async Task A_document_lists_its_pages_in_order_with_completeness()
    {
        // When the scanned document is asked for without a model (the recording run's model applies)
        var (status, doc) = await GetJsonAsync($"/api/documents?uri={Query(ScanUri)}");

        // Then its four pages come in order: two done, the third failed for OCR only, the fourth pending
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((ScanUri, "pdf", DocumentStore.Model, 4), ((string)doc!["uri"]!, (string)doc["kind"]!, (string)doc["model"]!, (int)doc["pageCount"]!));
        Assert.Equal((2, 1, 1, false), ((int)doc["pagesDone"]!, (int)doc["pagesFailed"]!, (int)doc["pagesPending"]!, (bool)doc["complete"]!));
        Assert.Null(doc["failure"]);
        var pages = doc["pages"]!.AsArray();
        Assert.Equal([1, 2, 3, 4], pages.Select(p => (int)p!["page"]!));
        Assert.Equal(["done", "done", "failed", "pending"], pages.Select(p => (string)p!["status"]!));
        Assert.Equal([(448, 580), (448, 580), (580, 448)], pages.Take(3).Select(p => ((int)p!["width"]!, (int)p["height"]!)));
        Assert.Null(pages[3]!["width"]);
        Assert.Equal(["first page", "PAGE ONE"], pages[0]!["results"]!.AsArray().Select(r => (string)r!["text"]!));
        Assert.Equal(["caption en", "ocr"], pages[0]!["results"]!.AsArray().Select(r => (string)r!["task"]!));
        var failure = Assert.Single(pages[2]!["failures"]!.AsArray())!;
        Assert.Equal(("ocr", "render", "page too large"), ((string)failure["task"]!, (string)failure["reason"]!, (string)failure["message"]!));
        Assert.Empty(pages[3]!["results"]!.AsArray());
        // And every page has a thumbnail: a page with a result through that result, the pending one by (uri, page)
        Assert.StartsWith("/api/results/", (string)pages[0]!["thumbnail"]!, StringComparison.Ordinal);
        Assert.Equal($"/api/documents/thumbnail?uri={Query(ScanUri)}&page=4", (string)pages[3]!["thumbnail"]!);
    }

    [SkippableFact]
    public async Task A_document_that_could_not_be_opened_shows_its_own_failure_and_no_pages()
    {
        var (status, doc) = await GetJsonAsync($"/api/documents?uri={Query(Seeded.Objects["locked.pdf"].Uri)}&model={Query(DocumentStore.Model)}");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Null(doc!["pageCount"]);
        Assert.Empty(doc["pages"]!.AsArray());
        Assert.Equal(("caption en", "encrypted"), ((string)doc["failure"]!["task"]!, (string)doc["failure"]!["reason"]!));
        Assert.Equal((0, 0, 0, false), ((int)doc["pagesDone"]!, (int)doc["pagesFailed"]!, (int)doc["pagesPending"]!, (bool)doc["complete"]!));
    }

    [SkippableFact]
    public async Task A_runs_failures_name_the_page_and_a_document_that_could_not_be_opened_has_none()
    {
        var (_, runs) = await GetJsonAsync("/api/runs");
        var id = (string)runs!.AsArray().Single(r => (string)r!["run"]!["name"]! == "scans")!["run"]!["id"]!;

        var (status, failures) = await GetJsonAsync($"/api/runs/{id}/failures");

        Assert.Equal(HttpStatusCode.OK, status);
        var locked = Seeded.Objects["locked.pdf"].Uri;
        Assert.Equal(
            [(locked, null, "caption en", "encrypted"), (locked, null, "ocr", "encrypted"), (ScanUri, 3, "ocr", "render")],
            failures!.AsArray().Select(f => ((string)f!["uri"]!, (int?)f["page"], (string)f["task"]!, (string)f["reason"]!)).ToArray());
    }

    [SkippableFact]
    public async Task Unknown_documents_are_404_and_a_missing_uri_is_400()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync($"/api/documents?uri={Query(ScanUri + ".missing")}")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetJsonAsync("/api/documents")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync($"/api/documents/thumbnail?uri={Query(ScanUri)}&page=5")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetJsonAsync($"/api/documents/thumbnail?uri={Query(ScanUri)}&page=0")).Status);
        // The document that could not be opened has no page to draw
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync($"/api/documents/thumbnail?uri={Query(Seeded.Objects["locked.pdf"].Uri)}&page=1")).Status);
    }

    [SkippableFact]
    public async Task A_page_results_thumbnail_shows_that_page_as_poppler_renders_it()
    {
        // Given the result ids of pages 1 and 2
        var (_, doc) = await GetJsonAsync($"/api/documents?uri={Query(ScanUri)}");
        var pages = doc!["pages"]!.AsArray();
        long first = (long)pages[0]!["results"]![0]!["id"]!, second = (long)pages[1]!["results"]![0]!["id"]!;

        // When their thumbnails are fetched, and the thumbnail of the failed landscape page 3 by (uri, page)
        var one = await GetAsync($"/api/results/{first}/thumbnail");
        var two = await GetAsync($"/api/results/{second}/thumbnail");
        var three = await GetAsync($"/api/documents/thumbnail?uri={Query(ScanUri)}&page=3");

        // Then each is a JPEG of 256 px on its longest side with its page's aspect (letter 612 x 792, landscape 792 x 612)
        Assert.All(new[] { one, two, three }, t => Assert.Equal((HttpStatusCode.OK, "image/jpeg"), (t.Status, t.ContentType)));
        using var a = Image.Load<L8>(one.Body);
        using var b = Image.Load<L8>(two.Body);
        using var c = Image.Load<L8>(three.Body);
        Assert.Equal(256, a.Height);
        Assert.Equal(612.0 / 792, (double)a.Width / a.Height, 2);
        Assert.Equal(256, c.Width);
        Assert.Equal(792.0 / 612, (double)c.Width / c.Height, 2);

        // And each is nearer poppler's rendering of its own page than of the other page
        using var ref1 = Poppler(1, a.Width, a.Height);
        using var ref2 = Poppler(2, a.Width, a.Height);
        double own1 = MeanDifference(a, ref1), cross1 = MeanDifference(a, ref2), own2 = MeanDifference(b, ref2), cross2 = MeanDifference(b, ref1);
        Assert.True(own1 < cross1 && own2 < cross2, $"page 1: {own1:F2} vs {cross1:F2}; page 2: {own2:F2} vs {cross2:F2}");
        Assert.True(MeanDifference(a, b) > 1, "pages 1 and 2 have the same thumbnail");
    }

    [SkippableFact]
    public async Task A_page_results_image_is_the_page_in_the_aspect_its_boxes_refer_to()
    {
        var (_, doc) = await GetJsonAsync($"/api/documents?uri={Query(ScanUri)}");
        var id = (long)doc!["pages"]![2]!["results"]![0]!["id"]!;

        var image = await GetAsync($"/api/results/{id}/image");

        Assert.Equal((HttpStatusCode.OK, "image/png"), (image.Status, image.ContentType));
        // Page 3 was recorded at 580 x 448: the same aspect, scaled up to 1024 px on the longest side (448 x 1024 / 580 = 790.9)
        var info = Image.Identify(image.Body);
        Assert.Equal((1024, 791), (info.Width, info.Height));
    }

    [SkippableFact]
    public async Task Results_and_search_hits_on_a_page_name_the_page()
    {
        var (_, hits) = await GetJsonAsync("/api/search?q=landscape");
        var hit = Assert.Single(hits!["hits"]!.AsArray())!;
        Assert.Equal((ScanUri, 3), ((string)hit["uri"]!, (int)hit["page"]!));

        var (_, result) = await GetJsonAsync($"/api/results/{(long)hit["id"]!}");
        Assert.Equal(3, (int)result!["page"]!);
        Assert.Equal((580, 448), ((int)result["width"]!, (int)result["height"]!));
    }

    /// <summary>Page <paramref name="page"/> of scanned.pdf as poppler's pdftoppm draws it, at exactly <paramref name="w"/> x <paramref name="h"/>.</summary>
    private Image<L8> Poppler(int page, int w, int h)
    {
        var root = Path.Combine(Seeded.DocumentsFolder, $"poppler-{page}-{w}x{h}-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo("pdftoppm") { RedirectStandardError = true };
        foreach (var arg in new[] { "-f", $"{page}", "-l", $"{page}", "-scale-to-x", $"{w}", "-scale-to-y", $"{h}", "-gray", "-png", "-singlefile", Path.Combine(Seeded.CorpusFolder, "scanned.pdf"), root })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"pdftoppm failed: {error}");
        var image = Image.Load<L8>(root + ".png");
        image.Mutate(x => x.Resize(w, h));
        return image;
    }

    private static double MeanDifference(Image<L8> x, Image<L8> y)
    {
        Assert.Equal((x.Width, x.Height), (y.Width, y.Height));
        double sum = 0;
        for (var row = 0; row < x.Height; row++)
        {
            for (var col = 0; col < x.Width; col++)
            {
                sum += Math.Abs(x[col, row].PackedValue - y[col, row].PackedValue);
            }
        }

        return sum / (x.Width * x.Height);
    }
}

public sealed class SqliteDocumentTests(SqliteDocumentStore seeded) : DocumentScenarios<SqliteDocumentStore>(seeded);

public sealed class PostgresDocumentTests(PostgresDocumentStore seeded) : DocumentScenarios<PostgresDocumentStore>(seeded);

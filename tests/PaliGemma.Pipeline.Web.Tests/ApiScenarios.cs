using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;
using SixLabors.ImageSharp;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>The HTTP API over a seeded store; one concrete class per provider.</summary>
public abstract class ApiScenarios<TStore>(TStore seeded) : IClassFixture<TStore>
    where TStore : SeededStore
{
    protected TStore Seeded { get; } = seeded;

    private async Task<(HttpStatusCode Status, JsonNode? Body)> GetJsonAsync(string url)
    {
        Seeded.SkipOrThrowIfUnavailable();
        await using var factory = Seeded.CreateFactory();
        using var client = factory.CreateClient();
        using var response = await client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [SkippableFact]
    public async Task Runs_list_and_detail_carry_counts_throughput_and_failures_grouped_by_reason()
    {
        var (status, runs) = await GetJsonAsync("/api/runs");
        Assert.Equal(HttpStatusCode.OK, status);
        var run = Assert.Single(runs!.AsArray())!;
        Assert.Equal(Seeded.Run.Id.ToString(), (string)run["run"]!["id"]!);
        Assert.Equal("photos", (string)run["run"]!["name"]!);
        // 3 objects x 2 tasks: cat and doc done (4), bad failed twice.
        Assert.Equal(6, (long)run["progress"]!["combinations"]!);
        Assert.Equal(4, (long)run["progress"]!["done"]!);
        Assert.Equal(2, (long)run["progress"]!["failed"]!);
        Assert.Equal(0, (long)run["progress"]!["pending"]!);
        // Four results of this run were written just now, within the 5-minute window: 4 / 5 per minute.
        Assert.Equal(0.8, (double)run["progress"]!["throughputPerMinute"]!, 3);
        Assert.Equal(0, (double)run["etaSeconds"]!);

        var (detailStatus, detail) = await GetJsonAsync($"/api/runs/{Seeded.Run.Id}");
        Assert.Equal(HttpStatusCode.OK, detailStatus);
        var group = Assert.Single(detail!["failureGroups"]!.AsArray())!;
        Assert.Equal("decode", (string)group["reason"]!);
        Assert.Equal(2, (long)group["count"]!);
        Assert.Equal("The input is not in a recognised image format", (string)group["exampleMessage"]!);
        var retry = (string)detail["retryCommand"]!;
        var expectedVerb = Seeded.Provider == DatabaseProvider.Sqlite ? "pgpipe run " : "pgpipe enqueue ";
        Assert.StartsWith(expectedVerb + Seeded.Run.Source + " --run photos --model tiny --dtype fp32 --task 'caption en' --task 'detect cat'", retry, StringComparison.Ordinal);

        var (failuresStatus, failures) = await GetJsonAsync($"/api/runs/{Seeded.Run.Id}/failures");
        Assert.Equal(HttpStatusCode.OK, failuresStatus);
        Assert.Equal(
            [(Seeded.Objects["bad.png"].Uri, "caption en"), (Seeded.Objects["bad.png"].Uri, "detect cat")],
            failures!.AsArray().Select(f => ((string)f!["uri"]!, (string)f["task"]!)).ToArray());
    }

    [SkippableFact]
    public async Task Unknown_ids_are_404_and_paths_are_not_ids()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync($"/api/runs/{Guid.NewGuid()}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync("/api/results/987654")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync("/api/results/987654/image")).Status);
        // A key or path in place of an id matches no route.
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync("/api/results/cat.png/image")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetJsonAsync("/api/results/..%2F..%2Fetc%2Fpasswd/image")).Status);
    }

    [SkippableFact]
    public async Task Search_is_ranked_filtered_and_paged()
    {
        var (_, printed) = await GetJsonAsync("/api/search?q=printed");
        var hits = printed!["hits"]!.AsArray();
        // Two models captioned doc.jpg with "printed"; both current results match.
        Assert.Equal(2, hits.Count);
        Assert.All(hits, h => Assert.Equal(Seeded.Objects["doc.jpg"].Uri, (string)h!["uri"]!));
        Assert.True((double)hits[0]!["rank"]! >= (double)hits[1]!["rank"]!);
        Assert.Contains("[printed]", (string)hits[0]!["snippet"]!, StringComparison.Ordinal);

        var (_, byModel) = await GetJsonAsync("/api/search?q=printed&model=other:fp32");
        Assert.Equal("a printed document page", Assert.Single(byModel!["hits"]!.AsArray())!["snippet"]!.GetValue<string>().Replace("[", "", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal));

        var (_, byRun) = await GetJsonAsync($"/api/search?q=printed&run={Seeded.Run.Id}");
        Assert.Equal(BrowserStoreModel, (string)Assert.Single(byRun!["hits"]!.AsArray())!["model"]!);

        var (_, byTask) = await GetJsonAsync("/api/search?q=cat&task=detect%20cat");
        var detect = Assert.Single(byTask!["hits"]!.AsArray())!;
        Assert.Equal("detect cat", (string)detect["task"]!);
        Assert.True((bool)detect["hasBoxes"]!);

        // Browsing without words pages through every current result, newest first: 5 rows in pages of 2.
        var seen = new List<long>();
        for (var offset = 0; ; offset += 2)
        {
            var (_, page) = await GetJsonAsync($"/api/search?offset={offset}&limit=2");
            seen.AddRange(page!["hits"]!.AsArray().Select(h => (long)h!["id"]!));
            if (!(bool)page["hasMore"]!)
            {
                break;
            }
        }

        Assert.Equal(5, seen.Count);
        Assert.Equal(seen.OrderDescending(), seen);
    }

    private const string BrowserStoreModel = SeededStore.Model;

    [SkippableFact]
    public async Task A_result_has_text_boxes_masks_and_token_counts()
    {
        var id = await FindResultIdAsync("cat", "detect cat");
        var (status, result) = await GetJsonAsync($"/api/results/{id}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("cat", (string)result!["text"]!);
        Assert.Equal(1030, (int)result["promptTokens"]!);
        Assert.Equal(5, (int)result["generatedTokens"]!);
        Assert.Equal(451, (int)result["width"]!);
        Assert.Equal(300, (int)result["height"]!);
        Assert.Equal("photos", (string)result["runName"]!);
        Assert.Equal(Seeded.Objects["cat.png"].ETag, (string)result["etag"]!);
        var box = Assert.Single(result["boxes"]!.AsArray())!;
        Assert.Equal("cat <b>tabby</b>", (string)box["label"]!);
        Assert.Equal(45.5, (double)box["x1"]!);
        Assert.Equal(225.5, (double)box["x2"]!);
        Assert.Equal(new[] { 300, 451 }, box["mask"]!["size"]!.AsArray().Select(v => (int)v!).ToArray());
        Assert.Equal(CocoRleMasks.Rectangle(300, 451, 100, 50, 200, 150), (string)box["mask"]!["counts"]!);
    }

    [SkippableFact]
    public async Task Image_is_streamed_from_the_source_and_thumbnails_keep_the_aspect_ratio()
    {
        Seeded.SkipOrThrowIfUnavailable();
        var id = await FindResultIdAsync("cat", "detect cat");
        await using var factory = Seeded.CreateFactory();
        using var client = factory.CreateClient();

        using var image = await client.GetAsync($"/api/results/{id}/image");
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/png", image.Content.Headers.ContentType!.MediaType);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(Seeded.ImagesFolder, "cat.png")), await image.Content.ReadAsByteArrayAsync());

        using var thumbnail = await client.GetAsync($"/api/results/{id}/thumbnail");
        Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
        Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType!.MediaType);
        var bytes = await thumbnail.Content.ReadAsByteArrayAsync();
        var info = Image.Identify(bytes);
        // 451x300 fitted into 256x256: 256 x round(300 * 256 / 451) = 256 x 170.
        Assert.Equal((256, 170), (info.Width, info.Height));

        // The doc caption of the other model has no run, hence no source to read from.
        var orphan = await FindResultIdAsync("printed", "caption en", SeededStore.OtherModel);
        using var missing = await client.GetAsync($"/api/results/{orphan}/image");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [SkippableFact]
    public async Task Thumbnails_are_served_from_memory_while_the_image_itself_is_checked_against_its_etag()
    {
        Seeded.SkipOrThrowIfUnavailable();
        var id = await FindResultIdAsync("document", "caption en", SeededStore.Model);
        var file = Path.Combine(Seeded.ImagesFolder, "doc.jpg");
        var original = await File.ReadAllBytesAsync(file);
        await using var factory = Seeded.CreateFactory();
        using var client = factory.CreateClient();
        var first = await client.GetByteArrayAsync($"/api/results/{id}/thumbnail");
        try
        {
            // The object changes after the result was made: the stored version is gone from the source.
            await File.WriteAllBytesAsync(file, [.. original, 0]);
            using var image = await client.GetAsync($"/api/results/{id}/image");
            Assert.Equal(HttpStatusCode.Conflict, image.StatusCode);
            // The thumbnail of the version the result describes is still in the cache, so no read happens.
            Assert.Equal(first, await client.GetByteArrayAsync($"/api/results/{id}/thumbnail"));
        }
        finally
        {
            await File.WriteAllBytesAsync(file, original);
        }

        // A fresh server has an empty cache: it must read the (restored) object again, and gets the same thumbnail.
        await using var fresh = Seeded.CreateFactory();
        using var freshClient = fresh.CreateClient();
        Assert.Equal(first, await freshClient.GetByteArrayAsync($"/api/results/{id}/thumbnail"));
    }

    [SkippableFact]
    public async Task Image_over_the_size_limit_is_refused_with_413()
    {
        Seeded.SkipOrThrowIfUnavailable();
        var id = await FindResultIdAsync("cat", "detect cat");
        await using var factory = Seeded.CreateFactory(settings: new Dictionary<string, string?> { ["Serve:MaxImageBytes"] = "1000" });
        using var client = factory.CreateClient();
        using var response = await client.GetAsync($"/api/results/{id}/image");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("Serve:MaxImageBytes", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Page_and_api_send_a_content_security_policy_and_the_api_is_read_only()
    {
        Seeded.SkipOrThrowIfUnavailable();
        await using var factory = Seeded.CreateFactory();
        using var client = factory.CreateClient();
        using var page = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var csp = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script src=\"/app.js\" defer></script>", html, StringComparison.Ordinal);
        // No inline script or style: every <script> has a src, and no element carries a style attribute.
        Assert.Equal(1, html.Split("<script").Length - 1);
        Assert.DoesNotContain("style=", html, StringComparison.Ordinal);

        using var api = await client.GetAsync("/api/runs");
        Assert.Contains("script-src 'self'", Assert.Single(api.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(api.Headers.GetValues("X-Content-Type-Options")));

        using var post = await client.PostAsync("/api/runs", new StringContent("{}", new MediaTypeHeaderValue("application/json")));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        using var delete = await client.DeleteAsync($"/api/runs/{Seeded.Run.Id}");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, delete.StatusCode);
    }

    [SkippableFact]
    public async Task Openapi_document_describes_every_api_route()
    {
        var (status, document) = await GetJsonAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, status);
        var paths = document!["paths"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(
            ["/api/changes", "/api/documents", "/api/documents/thumbnail", "/api/results/{id}", "/api/results/{id}/image", "/api/results/{id}/thumbnail", "/api/runs", "/api/runs/{id}", "/api/runs/{id}/failures", "/api/search"],
            paths);
        Assert.All(document["paths"]!.AsObject(), p => Assert.Equal(["get"], p.Value!.AsObject().Select(o => o.Key).ToArray()));

        // The change feed's page is described with the keys it really has, and its 400
        var changes = document["paths"]!["/api/changes"]!["get"]!;
        Assert.Equal(["after", "limit"], changes["parameters"]!.AsArray().Select(p => (string)p!["name"]!).Order(StringComparer.Ordinal).ToArray());
        Assert.NotNull(changes["responses"]!["400"]);
        var schemas = document["components"]!["schemas"]!;
        Assert.Equal(["changes", "next"], schemas["ChangeLinePage"]!["properties"]!.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal(
            ["cursor", "op", "id", "uri", "etag", "model", "task", "text", "boxes", "prompt_tokens", "generated_tokens", "updated_at", "page"],
            schemas["ChangeLine"]!["properties"]!.AsObject().Select(p => p.Key).ToArray());
    }

    [SkippableFact]
    public async Task Change_feed_rejects_a_malformed_cursor_with_400_and_clamps_a_small_limit()
    {
        await WaitUntilTheSeedIsInTheFeedAsync();
        var (bad, body) = await GetJsonAsync("/api/changes?after=abc");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Contains("change cursor", (string)body!["error"]!, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetJsonAsync("/api/changes?after=1:-2")).Status);

        var (_, one) = await GetJsonAsync("/api/changes?limit=0");
        Assert.Single(one!["changes"]!.AsArray());
        var (_, all) = await GetJsonAsync("/api/changes?limit=100000");
        Assert.Equal(5, all!["changes"]!.AsArray().Count);
    }

    /// <summary>
    /// On Postgres a transaction open anywhere on the server since before the seed committed (another test class's
    /// writers) holds the seed's five changes back a moment; once readable they stay readable.
    /// </summary>
    private async Task WaitUntilTheSeedIsInTheFeedAsync()
    {
        Seeded.SkipOrThrowIfUnavailable();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await Seeded.Store.ReadChangesAsync(ChangeCursor.Start, 100, CancellationToken.None)).Rows.Count < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
    }

    private async Task<long> FindResultIdAsync(string words, string task, string? model = null)
    {
        var url = $"/api/search?q={Uri.EscapeDataString(words)}&task={Uri.EscapeDataString(task)}" + (model is null ? string.Empty : $"&model={Uri.EscapeDataString(model)}");
        var (_, page) = await GetJsonAsync(url);
        return (long)page!["hits"]!.AsArray().Single(h => model is null || (string)h!["model"]! == model)!["id"]!;
    }
}

public sealed class SqliteApiTests(SqliteSeededStore seeded) : ApiScenarios<SqliteSeededStore>(seeded);

public sealed class PostgresApiTests(PostgresSeededStore seeded) : ApiScenarios<PostgresSeededStore>(seeded);

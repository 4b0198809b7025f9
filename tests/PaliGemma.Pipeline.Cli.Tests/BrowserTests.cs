using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;
using PaliGemma.Pipeline.Web;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// The page in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by Playwright, over a store filled
/// by a real embedded <c>pgpipe run</c> of the tiny model on fixture images, plus one known detection and one caption
/// holding markup written through the store API (the tiny model's random weights detect nothing predictable).
/// </summary>
public sealed class BrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Target = "resize-451x300.png";
    private const int Width = 451;
    private const int Height = 300;
    private const string Label = "cat <i>tabby</i>";
    private const string ScriptCaption = "<script>window.__pgpipeXss=1</script><img src=x onerror=\"window.__pgpipeXss=2\"> a cat on a sofa";

    // The known detection, in original image pixels, and its mask: a rectangle inside the box.
    private static readonly (double X1, double Y1, double X2, double Y2) Box = (90.2, 60, 360.8, 240);
    private static readonly (int X1, int Y1, int X2, int Y2) MaskRect = (150, 100, 300, 200);

    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-web-browser-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    [SkippableFact]
    public async Task Page_draws_the_known_box_and_mask_in_place_and_renders_markup_as_text()
    {
        if (!File.Exists(Chromium))
        {
            var message = $"{Chromium} is missing; install Debian's chromium package (.ci/services.sh does).";
            Assert.False(ServiceRequirement.IsCi, message);
            Skip.If(true, message);
        }

        // Given: a real embedded run over four files (one is not an image, so the run has a real failure).
        var images = Path.Combine(_folder, "images");
        Directory.CreateDirectory(images);
        foreach (var name in new[] { Target, "56x56-shapes.png", "resize-97x61.png" })
        {
            File.Copy(RepositoryPaths.Combine("tests", "fixtures", "images", name), Path.Combine(images, name));
        }

        await File.WriteAllTextAsync(Path.Combine(images, "broken.png"), "not an image");
        var db = Path.Combine(_folder, "pgpipe.db");
        var embedded = await CliRunner.RunAsync("run", images, "--model", RepositoryPaths.Combine("tests", "fixtures", "models", "tiny"), "--task", "caption en",
            "--task", "detect cat", "--run", "fixtures", "--db", db);
        output.WriteLine(embedded.Stdout);
        // 1: finished with failures (broken.png), as intended.
        Assert.True(embedded.ExitCode == 1, $"pgpipe run exited {embedded}");

        var store = new ResultStore(
            new PipelineDbContextFactory(Options.Create(new DatabaseOptions { ConnectionString = new SqliteConnectionStringBuilder { DataSource = db }.ConnectionString })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        var run = (await store.GetRunAsync("fixtures", CancellationToken.None))!;
        ExportRow target = null!;
        await foreach (var row in store.ExportRunAsync(run.Id, CancellationToken.None))
        {
            if (row.Uri.EndsWith(Target, StringComparison.Ordinal))
            {
                target = row;
            }
        }

        var mask = CocoRleMasks.Rectangle(Height, Width, MaskRect.X1, MaskRect.Y1, MaskRect.X2, MaskRect.Y2);
        var boxes = JsonSerializer.Serialize(new[]
        {
            new { label = Label, x1 = Box.X1, y1 = Box.Y1, x2 = Box.X2, y2 = Box.Y2, mask = new { size = new[] { Height, Width }, counts = mask } },
        });
        await store.WriteBatchAsync(ResultBatch.Of(
            new ResultRecord(target.Uri, target.ETag, run.Model, "detect cat", "cat", boxes, 260, 5, 40, run.Id),
            new ResultRecord(target.Uri, target.ETag, run.Model, "caption en", ScriptCaption, null, 260, 14, 40, run.Id)), CancellationToken.None);
        var detectId = (await store.QueryResultsAsync(new ResultQuery("cat", Task: "detect cat"), CancellationToken.None)).Hits.Single().Id;
        var captionId = (await store.QueryResultsAsync(new ResultQuery("sofa"), CancellationToken.None)).Hits.Single().Id;

        await using var app = ResultsBrowserApp.CreateServer(new ConfigurationBuilder().Build(), new BrowserStore(store, db), ["http://127.0.0.1:0"]);
        await app.StartAsync();
        var baseUrl = Assert.Single(app.Urls);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 900 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                errors.Add(m.Text + " at " + m.Location);
            }
        };

        // The runs dashboard lists the run with its progress.
        await page.GotoAsync(baseUrl + "/#/runs");
        var runLink = page.Locator("#runs-table a", new PageLocatorOptions { HasText = "fixtures" });
        await runLink.WaitForAsync();
        Assert.Equal(8.0, await page.Locator("#runs-table progress").First.EvaluateAsync<double>("p => p.max"));
        Assert.Equal(8.0, await page.Locator("#runs-table progress").First.EvaluateAsync<double>("p => p.value"));

        // The run's failures are grouped by reason, with the command that retries them.
        await runLink.ClickAsync();
        await page.Locator("#failure-groups tbody tr").First.WaitForAsync();
        Assert.Equal("not_an_image", await page.Locator("#failure-groups tbody tr td").First.TextContentAsync());
        var retry = await page.Locator("#retry-command").TextContentAsync();
        Assert.StartsWith($"pgpipe run {images} --run fixtures --model tiny --dtype fp32 --task 'caption en' --task 'detect cat' --db {db}", retry, StringComparison.Ordinal);

        // Search, then open the known detection from the thumbnail grid.
        await page.GotoAsync(baseUrl + "/#/search");
        await page.FillAsync("#search-input", "cat");
        await page.ClickAsync("#search-button");
        var card = page.Locator($".card[data-result-id=\"{detectId}\"]");
        await card.WaitForAsync();
        Assert.True(await card.Locator("img").EvaluateAsync<bool>("img => img.decode().then(() => img.naturalWidth === 256 && img.naturalHeight === 170)"));
        await card.ClickAsync();
        await page.Locator($"#stage[data-result-id=\"{detectId}\"][data-ready=\"1\"]").WaitForAsync();

        // Then: the image keeps its aspect ratio and the box lies where the detection says, within 2 px.
        var image = (await page.Locator("#result-image").BoundingBoxAsync())!;
        Assert.Equal(Height / (double)Width, image.Height / image.Width, 2);
        var scale = image.Width / Width;
        var drawn = (await page.Locator("#box-layer .box").BoundingBoxAsync())!;
        output.WriteLine($"image {image.X},{image.Y} {image.Width}x{image.Height}; box {drawn.X},{drawn.Y} {drawn.Width}x{drawn.Height}");
        Assert.InRange(drawn.X, image.X + (Box.X1 * scale) - 2, image.X + (Box.X1 * scale) + 2);
        Assert.InRange(drawn.Y, image.Y + (Box.Y1 * scale) - 2, image.Y + (Box.Y1 * scale) + 2);
        Assert.InRange(drawn.X + drawn.Width, image.X + (Box.X2 * scale) - 2, image.X + (Box.X2 * scale) + 2);
        Assert.InRange(drawn.Y + drawn.Height, image.Y + (Box.Y2 * scale) - 2, image.Y + (Box.Y2 * scale) + 2);
        Assert.Equal(Label, await page.Locator("#box-layer .box .label").TextContentAsync());
        Assert.Equal(target.ETag, await page.Locator("#result-facts dt:text-is(\"etag\") + dd").TextContentAsync());
        Assert.Equal(0, await page.Locator("#box-layer .box .label i").CountAsync());

        // The mask overlay is translucent inside its rectangle and clear outside (canvas at natural size).
        var alpha = await page.EvaluateAsync<int[]>(
            $"() => {{ const c = document.getElementById('mask-layer').getContext('2d'); return [[{MaskRect.X1}, {MaskRect.Y1}], [{MaskRect.X2 - 1}, {MaskRect.Y2 - 1}], [{MaskRect.X1 - 1}, {MaskRect.Y1}], [{MaskRect.X2}, {MaskRect.Y2 - 1}], [10, 10]].map(([x, y]) => c.getImageData(x, y, 1, 1).data[3]); }}");
        Assert.True(alpha[0] is > 0 and < 255 && alpha[1] is > 0 and < 255, string.Join(",", alpha));
        Assert.Equal(new[] { 0, 0, 0 }, alpha[2..]);
        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        var screenshot = Path.Combine(artifacts, "serve-detail.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        output.WriteLine("screenshot: " + screenshot);
        if (Environment.GetEnvironmentVariable("PGPIPE_UPDATE_DOCS_SCREENSHOT") == "1")
        {
            File.Copy(screenshot, RepositoryPaths.Combine("docs", "serve.png"), overwrite: true);
        }

        // The caption that holds <script> and an onerror handler shows as text and runs nothing.
        await page.GotoAsync(baseUrl + $"/#/results/{captionId}");
        await page.Locator($"#stage[data-result-id=\"{captionId}\"][data-ready=\"1\"]").WaitForAsync();
        Assert.Equal(ScriptCaption, await page.Locator("#result-text").TextContentAsync());
        Assert.Equal(0, await page.Locator("#result-text *").CountAsync());
        await page.GotoAsync(baseUrl + "/#/search?q=sofa");
        await page.Locator($".card[data-result-id=\"{captionId}\"]").WaitForAsync();
        Assert.Contains("</script><img src=", await page.Locator($".card[data-result-id=\"{captionId}\"] .snippet").TextContentAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator(".card .snippet script, .card .snippet img").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => typeof window.__pgpipeXss === 'undefined'"));

        // The page's COCO RLE decoder on a hand-worked string: counts 5, 30, 2, 1, 2 ('n0' is 30 in two groups, 'SO' is
        // 1 - 30 = -29 as a difference to the count two places back) over a 4 x 10 column-major mask.
        var counts = await page.EvaluateAsync<int[]>("() => window.pgpipe.decodeCocoRle('5n02SO0')");
        Assert.Equal(new[] { 5, 30, 2, 1, 2 }, counts);
        var rows = await page.EvaluateAsync<string[]>(
            "() => { const m = window.pgpipe.rleToMask(window.pgpipe.decodeCocoRle('5n02SO0'), 4, 10); return [0, 1, 2, 3].map(y => Array.from(m.slice(y * 10, y * 10 + 10)).join('')); }");
        Assert.Equal(["0011111110", "0111111111", "0111111110", "0111111100"], rows);

        Assert.True(errors.Count == 0, "browser errors:\n" + string.Join("\n", errors));
        await app.StopAsync();
    }
}

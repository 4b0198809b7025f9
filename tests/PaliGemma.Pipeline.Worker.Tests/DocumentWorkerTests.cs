using MassTransit;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>
/// Document expansion inside one worker: the real consumer, the tiny model, a SQLite store and a generated PDF in the
/// local catalog. A document job expands into page jobs on the worker's own queue; expanding again (a redelivery after
/// a kill midway) sends only pages still to do, and every page ends exactly once.
/// </summary>
[Collection(WorkerScenario.Collection)]
public sealed class DocumentWorkerTests(ITestOutputHelper output)
{
    private static readonly string[] Tasks = ["caption en", "ocr"];
    private readonly XunitSink _sink = new(output);

    [Fact]
    public async Task A_redelivered_document_job_after_a_partial_expansion_stores_each_page_once_from_one_fetch()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var pdf = scenario.WriteBytes("archive/scanned.pdf", File.ReadAllBytes(Path.Combine(DocumentCorpus.Generate(), "scanned.pdf")));
        var pages = DocumentCorpus.Manifest(DocumentCorpus.Generate())["scanned.pdf"].Pages;
        var job = scenario.Job(Guid.NewGuid(), pdf);

        // A worker killed during expansion had sent the jobs of pages 1 and 2, and not acknowledged the document's job,
        // which the broker delivers again: both reach the queue together.
        await scenario.SendAsync([job with { Page = 1 }, job with { Page = 2 }, job]);
        var pageJobs = await WaitForPageResultsAsync(scenario, pdf.Uri, pages * Tasks.Length);
        Assert.Empty(await scenario.ReadFailuresAsync());
        var results = await ResultKeysAsync(scenario, pdf.Uri);
        Assert.Equal(Enumerable.Range(1, pages).SelectMany(p => Tasks.Select(t => (p, t))).Order(), results.Order());
        Assert.True(pageJobs >= pages, $"{pageJobs} page jobs consumed for {pages} pages");

        // Delivered once more after everything is done: it expands to nothing.
        await scenario.SendAsync([job]);
        await scenario.WaitForBatchesAsync(pageJobs + 2, TimeSpan.FromSeconds(60));
        Assert.Equal(pageJobs, await WaitForPageResultsAsync(scenario, pdf.Uri, pages * Tasks.Length));
        Assert.Equal(results.Order(), (await ResultKeysAsync(scenario, pdf.Uri)).Order());
        // One local copy served both expansions and every page: the document was read from the catalog once.
        Assert.Equal(1, scenario.DocumentFiles.Fetches);
    }

    [Fact]
    public async Task Expanding_a_document_whose_first_pages_are_done_sends_only_the_missing_pages()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var pdf = scenario.WriteBytes("archive/born.pdf", File.ReadAllBytes(Path.Combine(DocumentCorpus.Generate(), "born_digital.pdf")));
        var pages = DocumentCorpus.Manifest(DocumentCorpus.Generate())["born_digital.pdf"].Pages;
        var runId = Guid.NewGuid();
        var done = new[] { 1, 2 };
        await scenario.Store.WriteBatchAsync(new ResultBatch(
            [.. done.SelectMany(p => Tasks.Select(t => new ResultRecord(pdf.Uri, pdf.ETag, scenario.ModelKey, t, "earlier", null, 1, 1, 1, runId) { Page = p }))], [], []),
            CancellationToken.None);

        await scenario.SendAsync([scenario.Job(runId, pdf)]);
        await WaitForPageResultsAsync(scenario, pdf.Uri, pages * Tasks.Length);
        var consumedPages = scenario.Consumer.Consumed.Select<Batch<ImageJob>>()
            .SelectMany(b => b.Context.Message.Select(m => m.Message.Page)).Where(p => p is not null).Select(p => p!.Value).Order().ToList();
        Assert.Equal(Enumerable.Range(done.Length + 1, pages - done.Length), consumedPages);
    }

    [Fact]
    public async Task A_small_tiff_comes_through_memory_one_page_stays_an_image_and_two_pages_are_a_document_without_a_download()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var single = scenario.WriteBytes("scans/single.tif", OnePageTiff());
        var two = scenario.WriteBytes("scans/two.tif", File.ReadAllBytes(Path.Combine(DocumentCorpus.Generate(), "lzw_rgb.tif")));
        Assert.Equal(2, DocumentCorpus.Manifest(DocumentCorpus.Generate())["lzw_rgb.tif"].Pages);
        var runId = Guid.NewGuid();

        await scenario.SendAsync([scenario.Job(runId, single), scenario.Job(runId, two)]);
        await WaitForPageResultsAsync(scenario, two.Uri, 2 * Tasks.Length);

        Assert.Empty(await scenario.ReadFailuresAsync());
        Assert.Equal(Tasks.Select(t => (0, t)).Order(), (await ResultKeysAsync(scenario, single.Uri, wholeObjects: true)).Order());
        Assert.Equal(Enumerable.Range(1, 2).SelectMany(p => Tasks.Select(t => (p, t))).Order(), (await ResultKeysAsync(scenario, two.Uri)).Order());
        // Both were read as images are (into memory); only the two-page one was written to a local copy, from there.
        Assert.Equal(0, scenario.DocumentFiles.Fetches);
        Assert.True(await scenario.Store.GetDocumentAsync(single.Uri, scenario.ModelKey, CancellationToken.None) is null, "a one-page TIFF was recorded as a document");
    }

    private static byte[] OnePageTiff()
    {
        using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(64, 48, new SixLabors.ImageSharp.PixelFormats.Rgb24(40, 90, 160));
        using var stream = new MemoryStream();
        image.Save(stream, new SixLabors.ImageSharp.Formats.Tiff.TiffEncoder());
        return stream.ToArray();
    }

    private static async Task<int> WaitForPageResultsAsync(WorkerScenario scenario, string uri, int expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var count = (await ResultKeysAsync(scenario, uri)).Count;
            if (count >= expected)
            {
                // Let any duplicate page job still in flight finish, so what is asserted is the final state.
                await Task.Delay(500);
                return scenario.Consumer.Consumed.Select<Batch<ImageJob>>().Sum(b => b.Context.Message.Count(m => m.Message.Page is not null));
            }

            Assert.True(DateTime.UtcNow < deadline, $"{count} of {expected} page results after 90 s");
            await Task.Delay(100);
        }
    }

    private static async Task<List<(int Page, string Task)>> ResultKeysAsync(WorkerScenario scenario, string uri, bool wholeObjects = false)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(scenario.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = wholeObjects ? "SELECT page, task FROM results WHERE uri = $u" : "SELECT page, task FROM results WHERE uri = $u AND page > 0";
        command.Parameters.AddWithValue("$u", uri);
        await using var reader = await command.ExecuteReaderAsync();
        var keys = new List<(int, string)>();
        while (await reader.ReadAsync())
        {
            keys.Add((reader.GetInt32(0), reader.GetString(1)));
        }

        return keys;
    }
}

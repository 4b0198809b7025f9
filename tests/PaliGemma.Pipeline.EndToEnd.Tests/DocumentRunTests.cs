using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// Document archives through the distributed pipeline as deployed: PDFs and a multi-page fax TIFF in S3, one job per
/// object from the producer, expansion into page jobs by the workers, pages rendered and run, results in Postgres.
/// Every page ends exactly once, across a worker killed mid-document and a re-run.
/// </summary>
public sealed partial class DocumentRunTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>
{
    private const string Big = "archive/scanned-300.pdf";

    [SkippableFact]
    public async Task Pdfs_and_a_fax_tiff_give_every_page_exactly_once_across_a_worker_kill_and_a_rerun()
    {
        await using var run = await PipelineRun.CreateAsync(services, output, "documents-s3");
        var corpus = DocumentCorpus.Generate("--pdf-pages", "300", "--g4-pages", "50");
        var manifest = DocumentCorpus.Manifest(corpus);
        // Key in the bucket -> file of the corpus. Three PDFs (one of 300 pages), a 50-page G4 TIFF, two bad documents.
        var files = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Big] = "scanned_300.pdf",
            ["archive/scanned.pdf"] = "scanned.pdf",
            ["archive/born-digital.pdf"] = "born_digital.pdf",
            ["fax/g4-50.tif"] = "g4_50.tif",
            ["bad/encrypted.pdf"] = "encrypted.pdf",
            ["bad/truncated.pdf"] = "truncated.pdf",
        };
        await run.UploadAsync(files.Select(f => (f.Key, File.ReadAllBytes(Path.Combine(corpus, f.Value)))));
        var listed = await run.ListAsync();
        Assert.Equal(files.Count, listed.Count);
        var cases = files.ToDictionary(f => run.UriOf(f.Key), f => manifest[f.Value], StringComparer.Ordinal);
        Assert.Equal((300, 50), (cases[run.UriOf(Big)].Pages, cases[run.UriOf("fax/g4-50.tif")].Pages));
        Assert.Equal(("encrypted", "corrupt"), (cases[run.UriOf("bad/encrypted.pdf")].Reason, cases[run.UriOf("bad/truncated.pdf")].Reason));
        var expectedPages = cases.Sum(c => c.Value.Pages) * PipelineRun.Tasks.Length;
        var expectedDocumentFailures = cases.Count(c => c.Value.Reason is not null) * PipelineRun.Tasks.Length;

        var first = await run.EnqueueAsync("enqueue-1");
        Assert.Equal((6L, 6L, 0L), (first.Listed, first.Enqueued, first.Reused));

        // Worker 1 takes the documents and starts on the pages; it is killed (SIGKILL) in the middle of the big PDF.
        var big = run.UriOf(Big);
        var worker1 = run.StartWorker("worker-1");
        var midway = await run.WaitForAsync("part of the 300-page PDF", s => s.Results.Count(r => r.Uri == big) >= 60, TimeSpan.FromMinutes(3),
            s => $"{s.Results.Count(r => r.Uri == big)} results on it");
        worker1.KillHard();
        var doneAtKill = midway.Results.Count(r => r.Uri == big);
        Assert.True(doneAtKill < 600, $"the kill came after the whole 300-page PDF was done ({doneAtKill} results); it must land mid-document");
        run.StartWorker("worker-2");

        var snapshot = await run.WaitForAsync($"{expectedPages} page results and {expectedDocumentFailures} document failures",
            s => s.Results.Count(r => r.Page > 0) == expectedPages && s.Failures.Count == expectedDocumentFailures, TimeSpan.FromMinutes(5),
            s => $"{s.Results.Count(r => r.Page > 0)}/{expectedPages} page results, {s.Failures.Count} failures");
        AssertExactlyOnce(snapshot, cases, listed);

        // Each worker fetched the big PDF at most twice (its expansion and its pages share the worker's local copy).
        var size = new FileInfo(Path.Combine(corpus, "scanned_300.pdf")).Length;
        var fetches = run.Processes.Where(p => p.Name.StartsWith("worker", StringComparison.Ordinal))
            .Select(p => (p.Name, Count: FetchLine().Matches(p.Log).Count(m => m.Groups[1].Value == big))).ToList();
        foreach (var (name, count) in fetches)
        {
            Assert.True(count <= 2, $"{name} fetched {big} {count} times; a worker fetches a document at most twice");
        }

        var totalFetches = fetches.Sum(f => f.Count);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"300-page PDF: {size} bytes, fetched {totalFetches} times by {fetches.Count} workers ({string.Join(", ", fetches.Select(f => $"{f.Name} {f.Count}"))}): " +
            $"{(double)size * totalFetches / 300:F0} bytes fetched per page; {doneAtKill} of 600 page results were done when worker-1 was killed"));

        var status = await run.Store.GetRunStatusAsync((await run.Store.GetRunAsync(first.RunName, CancellationToken.None))!.Id, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal((0L, cases.Count(c => c.Value.Pages > 0 || c.Value.Reason is not null)), (status.Pending, (long)status.Documents));
        Assert.Equal(cases.Sum(c => c.Value.Pages), status.Pages);

        // A re-run reuses every page: only the two bad documents are tried again (failures stay eligible), and fail again.
        var before = snapshot.Results.Max(r => r.UpdatedAt);
        var second = await run.EnqueueAsync("enqueue-2");
        Assert.Equal((6L, 2L, 4L), (second.Listed, second.Enqueued, second.Reused));
        snapshot = await run.WaitForAsync("the 2 bad documents retried once", s => s.Failures.Count(f => f.Attempts == 2) == expectedDocumentFailures, TimeSpan.FromSeconds(90));
        AssertExactlyOnce(snapshot, cases, listed);
        Assert.Equal(before, snapshot.Results.Max(r => r.UpdatedAt));
        Assert.True(await run.QueueDepthAsync(run.QueueName + "_error") is null or 0, "no job may reach the error queue");
    }

    /// <summary>
    /// Every page of every good document has exactly one current result per task and nothing else; every bad document
    /// has exactly one failure per task at page 0 with its reason, and no page rows at all.
    /// </summary>
    internal static void AssertExactlyOnce(StoreSnapshot snapshot, IReadOnlyDictionary<string, DocumentCase> cases, IReadOnlyDictionary<string, string> etags)
    {
        var problems = new List<string>();
        foreach (var (uri, c) in cases)
        {
            var results = snapshot.Results.Where(r => r.Uri == uri && !r.Superseded).Select(r => (r.ETag, r.Page, r.Task)).ToList();
            var failures = snapshot.Failures.Where(f => f.Uri == uri).ToList();
            var good = Enumerable.Range(1, c.Pages).Where(p => !c.BadPages.Contains(p));
            var expected = good.SelectMany(p => PipelineRun.Tasks.Select(t => (etags[uri], p, t))).Order().ToList();
            if (!results.Order().SequenceEqual(expected))
            {
                problems.Add($"{c.File}: {results.Count} results ({results.Distinct().Count()} distinct), expected {expected.Count}");
            }

            var expectedFailures = c.Reason is not null
                ? PipelineRun.Tasks.Select(t => (0, t, c.Reason)).ToList()
                : c.BadPages.SelectMany(p => PipelineRun.Tasks.Select(t => (p, t, c.PageReason!))).ToList();
            var observedFailures = failures.Select(f => (f.Page, f.Task, f.Reason)).Order().ToList();
            if (!observedFailures.SequenceEqual(expectedFailures.Order()))
            {
                problems.Add($"{c.File}: failures {string.Join(", ", observedFailures)}, expected {string.Join(", ", expectedFailures)}: {string.Join(" | ", failures.Select(f => f.Message))}");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [GeneratedRegex(@"Fetched document (\S+) \(")]
    private static partial Regex FetchLine();
}

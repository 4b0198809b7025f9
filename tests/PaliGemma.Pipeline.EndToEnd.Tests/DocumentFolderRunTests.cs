using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The embedded run (<c>pgpipe run</c>: one process, SQLite, no servers) over a folder of documents: every page and
/// every bad document ends exactly once, the exports say so page by page, a usable PDF text layer stands in for OCR
/// with <c>--pdf-text-layer prefer</c>, and a re-run does no new work for done pages.
/// </summary>
public sealed partial class DocumentFolderRunTests(ITestOutputHelper output)
{
    /// <summary>The page limit the run is given, so the 12-page file of the corpus is over it.</summary>
    private const int MaxPages = 10;

    [Fact]
    public async Task A_folder_of_documents_gives_every_page_one_outcome_exports_them_in_order_and_a_rerun_reuses_them()
    {
        var corpus = DocumentCorpus.Generate();
        var manifest = DocumentCorpus.Manifest(corpus);
        var folder = Directory.CreateTempSubdirectory("pgpipe-doc-folder-").FullName;
        try
        {
            foreach (var file in manifest.Keys)
            {
                File.Copy(Path.Combine(corpus, file), Path.Combine(folder, file));
            }

            File.Copy(Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "images", "56x56-checker.png"), Path.Combine(folder, "photo.png"));
            var db = Path.Combine(folder, "..", Path.GetFileName(folder) + ".db");
            var first = await PgpipeAsync("run-1", "run", folder, "--task", "caption en", "--task", "ocr", "--model", PipelineRun.TinyModel,
                "--max-new-tokens", "8", "--db", db, "--pdf-text-layer", "prefer");
            // 1: finished with failures (the corpus has bad documents and one bad page).
            Assert.True(first.Code == 1, $"pgpipe run exited with {first.Code}:\n{first.Log}");
            var runName = RunName().Match(first.Log).Groups[1].Value;

            // What each file must become: the generator's manifest, except that a file named .pdf that is no PDF at all is
            // not a document to the pipeline either, and goes the image path (not_an_image), as any misnamed file does.
            var expected = manifest.Values.ToDictionary(c => Path.Combine(folder, c.File), c => c.File == "html.pdf" ? c with { Reason = "not_an_image" } : c);
            var lines = await ExportAsync(runName, db, "jsonl");
            var problems = new List<string>();
            foreach (var (uri, c) in expected)
            {
                var rows = lines.Where(l => l.GetProperty("uri").GetString() == uri).ToList();
                var observed = rows.Select(r => (Page: r.TryGetProperty("page", out var p) ? p.GetInt32() : 0, Task: r.GetProperty("task").GetString()!, Status: r.GetProperty("status").GetString()!))
                    .ToList();
                var want = c.Reason is not null
                    ? new[] { "caption en", "ocr" }.Select(t => (Page: 0, Task: t, Status: "failed")).ToList()
                    : Enumerable.Range(1, c.Pages).SelectMany(p => new[] { "caption en", "ocr" }.Select(t => (Page: p, Task: t, Status: c.BadPages.Contains(p) ? "failed" : "ok"))).ToList();
                if (!observed.SequenceEqual(want))
                {
                    problems.Add($"{c.File}: exported {string.Join(", ", observed)}; expected {string.Join(", ", want)}");
                }

                if (c.Reason is { } reason && rows.Any(r => r.GetProperty("error").GetString()?.StartsWith(reason + ":", StringComparison.Ordinal) != true))
                {
                    problems.Add($"{c.File}: expected failure '{reason}', got {string.Join(" | ", rows.Select(r => r.GetProperty("error").GetString()))}");
                }
            }

            Assert.True(problems.Count == 0, string.Join('\n', problems));
            // A failed page's reason names the object, never the worker's local copy of it.
            var badPage = lines.First(l => l.GetProperty("uri").GetString() == Path.Combine(folder, "corrupt_strip.tif") && l.GetProperty("status").GetString() == "failed");
            Assert.DoesNotContain("pgpipe-documents-", badPage.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.Equal(2, lines.Count(l => l.GetProperty("uri").GetString() == Path.Combine(folder, "photo.png") && !l.TryGetProperty("page", out _)));

            // A usable text layer (pages 1, 3, 5 of born_digital.pdf) is the ocr result, word for word what poppler's
            // pdftotext reads; the sparse pages 2 and 4 ran the model.
            var born = Path.Combine(folder, "born_digital.pdf");
            foreach (var page in new[] { 1, 3, 5 })
            {
                var ocr = lines.Single(l => l.GetProperty("uri").GetString() == born && l.GetProperty("page").GetInt32() == page && l.GetProperty("task").GetString() == "ocr");
                Assert.Equal(Words(await PdfToTextAsync(born, page)), Words(ocr.GetProperty("text").GetString()!));
            }

            // One object per document with its pages' text in order, and one text file per document, pages split by form feeds.
            var documents = await ExportAsync(runName, db, "documents");
            var scanned = documents.Single(d => d.GetProperty("uri").GetString() == Path.Combine(folder, "scanned.pdf"));
            Assert.Equal([1, 2, 3, 4], scanned.GetProperty("pages").EnumerateArray().Select(p => p.GetProperty("page").GetInt32()));
            Assert.True(scanned.GetProperty("complete").GetBoolean());
            var textFolder = Path.Combine(folder, "..", Path.GetFileName(folder) + "-text");
            var text = await PgpipeAsync("export-text", "export", runName, "--format", "text", "--out", textFolder, "--db", db, "--task", "ocr");
            Assert.True(text.Code == 0, text.Log);
            var bornText = File.ReadAllText(Directory.GetFiles(textFolder).Single(f => Path.GetFileName(f).StartsWith("born_digital", StringComparison.Ordinal)));
            Assert.Equal(5, bornText.Split('\f').Length);
            Assert.Equal(Words(await PdfToTextAsync(born, 3)), Words(bornText.Split('\f')[2]));

            // The same command again: done pages are not redone. Only what failed is tried again: the five bad files
            // and the document with a bad page (whose good pages stay done).
            var second = await PgpipeAsync("run-2", "run", folder, "--task", "caption en", "--task", "ocr", "--model", PipelineRun.TinyModel,
                "--max-new-tokens", "8", "--db", db, "--pdf-text-layer", "prefer");
            Assert.True(second.Code == 1, second.Log);
            var failedFiles = expected.Values.Count(c => c.Reason is not null || c.BadPages.Count > 0);
            Assert.Matches($"{failedFiles} enqueued this pass, {expected.Count + 1 - failedFiles} reused", second.Log);
            var again = await ExportAsync(runName, db, "jsonl");
            Assert.Equal(lines.Count, again.Count);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private async Task<List<JsonElement>> ExportAsync(string run, string db, string format)
    {
        var export = await PgpipeAsync("export-" + format, "export", run, "--format", format, "--db", db);
        Assert.True(export.Code == 0, export.Log);
        return export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    private async Task<(int Code, string Stdout, string Log)> PgpipeAsync(string name, params string[] args)
    {
        var environment = new Dictionary<string, string>
        {
            ["Documents__MaxPages"] = MaxPages.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Inference__IntraOpThreads"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        using var process = PgpipeProcess.Start(name, environment, args);
        var code = await process.WaitForExitAsync(TimeSpan.FromMinutes(3));
        output.WriteLine($"--- {name}: exit {code}\n{process.Log}");
        return (code, process.StandardOutput, process.Log);
    }

    /// <summary>Poppler's reading of one page's text layer: the independent reference for what the text layer says.</summary>
    private static async Task<string> PdfToTextAsync(string pdf, int page)
    {
        var start = new ProcessStartInfo("pdftotext") { RedirectStandardOutput = true };
        foreach (var a in new[] { "-f", page.ToString(System.Globalization.CultureInfo.InvariantCulture), "-l", page.ToString(System.Globalization.CultureInfo.InvariantCulture), pdf, "-" })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return text;
    }

    /// <summary>Text compared as its words: the two readers lay out line breaks and spacing differently.</summary>
    private static string Words(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    [GeneratedRegex(@"run (run-[0-9a-f]+) \(")]
    private static partial Regex RunName();
}

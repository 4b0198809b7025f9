using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// A store holding run "docs" (tasks "caption en" and "ocr") over three objects, written through the public ResultStore
/// API as the workers would:
/// <list type="bullet">
/// <item>bad.pdf: recorded as a PDF that could not be opened (no page count); both tasks failed as a document
/// ("document: encrypted").</item>
/// <item>img.jpg (400x300): caption "a red kite", OCR "KITE".</item>
/// <item>report.pdf, 3 pages (612x792, 612x792, 792x612): captions "title page", "a chart", "closing words"; OCR
/// "ANNUAL REPORT", failed on page 2 ("render: page too large"), "THE END".</item>
/// </list>
/// </summary>
public abstract class DocumentSeededStore(StoreBackend backend) : SeededFixture(backend)
{
    public const string Model = "paligemma2-3b-pt-448";
    public const string Caption = "caption en";
    public const string Ocr = "ocr";

    protected override async Task SeedAsync(CancellationToken ct)
    {
        var store = new ResultStore(
            new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = Provider, ConnectionString = ConnectionString })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        await store.MigrateAsync(ct);
        var run = await store.CreateRunAsync(new RunDefinition("docs", "s3://docs/", Model, [Caption, Ocr]), ct);
        await store.RecordListedPageAsync(run.Id,
        [
            new RunItemRecord("s3://docs/bad.pdf", "e-bad", 100, true),
            new RunItemRecord("s3://docs/img.jpg", "e-img", 200, true),
            new RunItemRecord("s3://docs/report.pdf", "e-rep", 300, true),
        ], "report.pdf", ct);
        await store.CompleteListingAsync(run.Id, ct);
        await store.RecordDocumentsAsync(
            [new DocumentRecord("s3://docs/report.pdf", "e-rep", "pdf", 3, 300, run.Id), new DocumentRecord("s3://docs/bad.pdf", "e-bad", "pdf", null, 100, run.Id)], ct);

        ResultRecord Result(string uri, string etag, string task, string text, int page = 0) =>
            new(uri, etag, Model, task, text, null, 1030, 5, 50, run.Id) { Page = page };
        FailureRecord Failure(string uri, string etag, string task, string reason, string message, int page = 0) =>
            new(uri, etag, Model, task, reason, message, run.Id) { Page = page };

        await store.WriteBatchAsync(new ResultBatch(
            [
                Result("s3://docs/img.jpg", "e-img", Caption, "a red kite"), Result("s3://docs/img.jpg", "e-img", Ocr, "KITE"),
                Result("s3://docs/report.pdf", "e-rep", Caption, "title page", 1), Result("s3://docs/report.pdf", "e-rep", Ocr, "ANNUAL REPORT", 1),
                Result("s3://docs/report.pdf", "e-rep", Caption, "a chart", 2),
                Result("s3://docs/report.pdf", "e-rep", Caption, "closing words", 3), Result("s3://docs/report.pdf", "e-rep", Ocr, "THE END", 3),
            ],
            [
                Failure("s3://docs/bad.pdf", "e-bad", Caption, "document", "encrypted"), Failure("s3://docs/bad.pdf", "e-bad", Ocr, "document", "encrypted"),
                Failure("s3://docs/report.pdf", "e-rep", Ocr, "render", "page too large", 2),
            ],
            [
                new ImageRecord("s3://docs/img.jpg", "e-img", 400, 300, 200),
                new ImageRecord("s3://docs/report.pdf", "e-rep", 612, 792, 300) { Page = 1 },
                new ImageRecord("s3://docs/report.pdf", "e-rep", 612, 792, 300) { Page = 2 },
                new ImageRecord("s3://docs/report.pdf", "e-rep", 792, 612, 300) { Page = 3 },
            ]), ct);
    }
}

/// <summary>The document store in a SQLite file.</summary>
public sealed class SqliteDocumentSeededStore() : DocumentSeededStore(new SqliteBackend("pgpipe-cli-docs-"));

/// <summary>The document store in a fresh Postgres database.</summary>
public sealed class PostgresDocumentSeededStore() : DocumentSeededStore(new PostgresBackend());

/// <summary>export (jsonl, documents, text), status and search of a run holding documents, per provider; expectations hand-written from the seed.</summary>
public abstract class DocumentExportScenarios
{
    private const string M = DocumentSeededStore.Model;

    // URI, then page, then task order; a page line names its page right after the URI, other lines have no page.
    private static readonly string[] ExpectedJsonl =
    [
        $$"""{"uri":"s3://docs/bad.pdf","etag":"e-bad","task":"caption en","model":"{{M}}","status":"failed","text":null,"boxes":null,"error":"document: encrypted"}""",
        $$"""{"uri":"s3://docs/bad.pdf","etag":"e-bad","task":"ocr","model":"{{M}}","status":"failed","text":null,"boxes":null,"error":"document: encrypted"}""",
        $$"""{"uri":"s3://docs/img.jpg","etag":"e-img","task":"caption en","model":"{{M}}","status":"ok","text":"a red kite","boxes":[],"error":null}""",
        $$"""{"uri":"s3://docs/img.jpg","etag":"e-img","task":"ocr","model":"{{M}}","status":"ok","text":"KITE","boxes":[],"error":null}""",
        $$"""{"uri":"s3://docs/report.pdf","page":1,"etag":"e-rep","task":"caption en","model":"{{M}}","status":"ok","text":"title page","boxes":[],"error":null}""",
        $$"""{"uri":"s3://docs/report.pdf","page":1,"etag":"e-rep","task":"ocr","model":"{{M}}","status":"ok","text":"ANNUAL REPORT","boxes":[],"error":null}""",
        $$"""{"uri":"s3://docs/report.pdf","page":2,"etag":"e-rep","task":"caption en","model":"{{M}}","status":"ok","text":"a chart","boxes":[],"error":null}""",
        $$"""{"uri":"s3://docs/report.pdf","page":2,"etag":"e-rep","task":"ocr","model":"{{M}}","status":"failed","text":null,"boxes":null,"error":"render: page too large"}""",
        $$"""{"uri":"s3://docs/report.pdf","page":3,"etag":"e-rep","task":"caption en","model":"{{M}}","status":"ok","text":"closing words","boxes":[],"error":null}""",
        $$"""{"uri":"s3://docs/report.pdf","page":3,"etag":"e-rep","task":"ocr","model":"{{M}}","status":"ok","text":"THE END","boxes":[],"error":null}""",
    ];

    private readonly DocumentSeededStore _store;

    protected DocumentExportScenarios(DocumentSeededStore store)
    {
        _store = store;
    }

    private string Db => _store.AvailableDb;

    [SkippableFact]
    public async Task Jsonl_export_has_one_line_per_page_and_task_and_no_page_for_images_and_document_failures()
    {
        var result = await CliRunner.RunAsync("export", "docs", "--format", "jsonl", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(ExpectedJsonl.Length, result.Lines.Count);
        for (var i = 0; i < ExpectedJsonl.Length; i++)
        {
            var expected = JsonNode.Parse(ExpectedJsonl[i])!.AsObject();
            var actual = JsonNode.Parse(result.Lines[i])!.AsObject();
            Assert.Equal(expected.Select(p => p.Key), actual.Select(p => p.Key));
            Assert.True(JsonNode.DeepEquals(expected, actual), $"line {i + 1}\nexpected {ExpectedJsonl[i]}\nactual   {result.Lines[i]}");
        }

        Assert.Contains("10 (object, task) rows: 7 ok, 3 failed, 0 pending", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Documents_export_has_one_line_per_document_with_its_pages_in_order()
    {
        var byDefault = await CliRunner.RunAsync("export", "docs", "--format", "documents", "--db", Db);
        var ocr = await CliRunner.RunAsync("export", "docs", "--format", "documents", "--task", "ocr", "--db", Db);

        // Then the image is left out; bad.pdf shows its own failure and no pages; report.pdf its three pages, one failed
        Assert.True(byDefault.ExitCode == 0, byDefault.ToString());
        Assert.Equal(2, byDefault.Lines.Count);
        const string bad = """{"uri":"s3://docs/bad.pdf","etag":"e-bad","kind":"pdf","page_count":null,"pages_done":0,"pages_failed":0,"complete":false,"failure":{"task":"caption en","reason_code":"document","message":"encrypted"},"pages":[]}""";
        const string report = """{"uri":"s3://docs/report.pdf","etag":"e-rep","kind":"pdf","page_count":3,"pages_done":2,"pages_failed":1,"complete":false,"failure":null,"pages":[{"page":1,"width":612,"height":792,"text":"title page","failures":[]},{"page":2,"width":612,"height":792,"text":"a chart","failures":[{"task":"ocr","reason_code":"render","message":"page too large"}]},{"page":3,"width":792,"height":612,"text":"closing words","failures":[]}]}""";
        AssertJson(bad, byDefault.Lines[0]);
        AssertJson(report, byDefault.Lines[1]);
        Assert.Contains("2 documents", byDefault.Stderr, StringComparison.Ordinal);

        // And --task picks which task's text a page shows
        Assert.True(ocr.ExitCode == 0, ocr.ToString());
        var pages = JsonNode.Parse(ocr.Lines[1])!["pages"]!.AsArray();
        Assert.Equal(["ANNUAL REPORT", null, "THE END"], pages.Select(p => (string?)p!["text"]));
    }

    [SkippableFact]
    public async Task Text_export_writes_one_file_per_document_with_pages_separated_by_form_feeds()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"pgpipe-text-{Guid.NewGuid():N}");
        try
        {
            var captions = await CliRunner.RunAsync("export", "docs", "--format", "text", "--out", folder, "--db", Db);

            // Then only report.pdf has pages: one file, named from the URI's last segment and its SHA-256
            // (sha256("s3://docs/report.pdf") starts ad3d1cb83f7e, computed with Python's hashlib)
            Assert.True(captions.ExitCode == 0, captions.ToString());
            var file = Assert.Single(Directory.GetFiles(folder));
            Assert.Equal("report.pdf-ad3d1cb83f7e.txt", Path.GetFileName(file));
            Assert.Equal("title page\fa chart\fclosing words", await File.ReadAllTextAsync(file));

            // And with --task ocr the failed page 2 is an empty part, so part n stays page n
            var ocr = await CliRunner.RunAsync("export", "docs", "--format", "text", "--task", "ocr", "--out", folder, "--db", Db);
            Assert.True(ocr.ExitCode == 0, ocr.ToString());
            Assert.Equal("ANNUAL REPORT\f\fTHE END", await File.ReadAllTextAsync(file));
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [SkippableFact]
    public async Task Text_export_without_a_folder_or_with_an_unknown_task_is_a_usage_error()
    {
        var noFolder = await CliRunner.RunAsync("export", "docs", "--format", "text", "--db", Db);
        var unknownTask = await CliRunner.RunAsync("export", "docs", "--format", "documents", "--task", "detect", "--db", Db);

        Assert.NotEqual(0, noFolder.ExitCode);
        Assert.Contains("--out FOLDER", noFolder.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(0, unknownTask.ExitCode);
        Assert.Contains("--task 'detect' is not a task of run 'docs'", unknownTask.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", noFolder.Stderr + unknownTask.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Status_counts_pages_and_documents()
    {
        var result = await CliRunner.RunAsync("status", "docs", "--json", "--db", Db);

        // Units: bad.pdf 1 + img.jpg 1 + report.pdf 3 = 5, x 2 tasks = 10; done 7; failed: bad 2 + page 2 OCR 1 = 3
        Assert.True(result.ExitCode == 0, result.ToString());
        var s = JsonNode.Parse(Assert.Single(result.Lines))!;
        Assert.Equal((10L, 7L, 3L, 0L), ((long)s["combinations"]!, (long)s["done"]!, (long)s["failed"]!, (long)s["pending"]!));
        Assert.Equal((2L, 1L, 3L, 5L, 1L),
            ((long)s["documents"]!, (long)s["documents_failed"]!, (long)s["pages"]!, (long)s["pages_done"]!, (long)s["pages_failed"]!));

        var table = await CliRunner.RunAsync("status", "docs", "--db", Db);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.Contains(table.Lines, l => l.StartsWith("page x task done", StringComparison.Ordinal) && l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[^1] == "5");
        Assert.Contains(table.Lines, l => l.StartsWith("documents failed", StringComparison.Ordinal) && l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[^1] == "1");
    }

    [SkippableFact]
    public async Task A_hit_on_a_document_page_names_the_page_and_an_image_hit_does_not()
    {
        // "a chart" is the caption of report.pdf page 2; "a red kite" that of the plain image img.jpg
        var page = await CliRunner.RunAsync("search", "chart", "--db", Db);
        var image = await CliRunner.RunAsync("search", "kite", "--db", Db);

        Assert.True(page.ExitCode == 0, page.ToString());
        Assert.Equal(2, page.Lines.Count);
        Assert.Contains(" s3://docs/report.pdf#page=2 ", page.Lines[1], StringComparison.Ordinal);
        Assert.True(image.ExitCode == 0, image.ToString());
        Assert.All(image.Lines.Skip(1), l => Assert.Contains(" s3://docs/img.jpg ", l, StringComparison.Ordinal));
        Assert.DoesNotContain("#page", image.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Json_hits_carry_a_page_only_for_document_pages()
    {
        var page = await CliRunner.RunAsync("search", "chart", "--json", "--db", Db);
        var image = await CliRunner.RunAsync("search", "red kite", "--json", "--db", Db);

        Assert.True(page.ExitCode == 0, page.ToString());
        var hit = JsonNode.Parse(Assert.Single(page.Lines))!.AsObject();
        Assert.Equal(["rank", "uri", "page", "task", "model", "snippet"], hit.Select(p => p.Key).ToArray());
        Assert.Equal(("s3://docs/report.pdf", 2), ((string)hit["uri"]!, (int)hit["page"]!));
        Assert.True(image.ExitCode == 0, image.ToString());
        var imageHit = JsonNode.Parse(Assert.Single(image.Lines))!.AsObject();
        Assert.Equal(["rank", "uri", "task", "model", "snippet"], imageHit.Select(p => p.Key).ToArray());
    }

    private static void AssertJson(string expected, string actual)
    {
        var e = JsonNode.Parse(expected)!.AsObject();
        var a = JsonNode.Parse(actual)!.AsObject();
        Assert.Equal(e.Select(p => p.Key), a.Select(p => p.Key));
        Assert.True(JsonNode.DeepEquals(e, a), $"expected {expected}\nactual   {actual}");
    }
}

public sealed class SqliteDocumentExportTests(SqliteDocumentSeededStore store) : DocumentExportScenarios(store), IClassFixture<SqliteDocumentSeededStore>;

public sealed class PostgresDocumentExportTests(PostgresDocumentSeededStore store) : DocumentExportScenarios(store), IClassFixture<PostgresDocumentSeededStore>;

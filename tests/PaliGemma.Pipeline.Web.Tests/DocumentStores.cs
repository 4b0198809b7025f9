using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>
/// A store written through the public ResultStore API as workers would write it, over real documents from
/// tools/gen_documents.py in a temporary folder: run "scans" (model <see cref="Model"/>, tasks <see cref="Caption"/>
/// and <see cref="Ocr"/>) lists
/// <list type="bullet">
/// <item>scan.pdf (the corpus's scanned.pdf: 4 pages, letter, letter, landscape, letter), recorded with 4 pages: page 1
/// done ("first page", "PAGE ONE"), page 2 done ("second page", "PAGE TWO"), page 3 failed for OCR ("render: page
/// too large") with its caption written, page 4 pending. Pages 1 and 2 were rendered at 448 x 580, page 3 at 580 x 448.</item>
/// <item>locked.pdf (the corpus's encrypted.pdf), recorded as a PDF that could not be opened: both tasks failed at
/// page 0 as "encrypted".</item>
/// </list>
/// </summary>
public abstract class DocumentStore(Func<string, TestDatabase> database) : SeededFixture(database)
{
    public const string Model = "tiny:fp32";
    public const string Caption = "caption en";
    public const string Ocr = "ocr";

    public string DocumentsFolder => Path.Combine(Folder, "docs");

    public string CorpusFolder { get; private set; } = null!;

    public IReadOnlyDictionary<string, CatalogObject> Objects { get; private set; } = null!;

    protected override async Task SeedAsync(ResultStore store, CancellationToken ct)
    {
        CorpusFolder = DocumentCorpus.Generate();
        Directory.CreateDirectory(DocumentsFolder);
        File.Copy(Path.Combine(CorpusFolder, "scanned.pdf"), Path.Combine(DocumentsFolder, "scan.pdf"));
        File.Copy(Path.Combine(CorpusFolder, "encrypted.pdf"), Path.Combine(DocumentsFolder, "locked.pdf"));

        using var sources = new CatalogSourceFactory(Options.Create(new S3Options()), Options.Create(new CatalogOptions()));
        var source = sources.Create(DocumentsFolder);
        var objects = new Dictionary<string, CatalogObject>();
        await foreach (var o in source.ListAsync(new CatalogFilter(), ct))
        {
            objects[o.Key] = o;
        }

        Objects = objects;
        var run = await store.CreateRunAsync(new RunDefinition("scans", source.Root, Model, [Caption, Ocr]), ct);
        await store.RecordListedPageAsync(run.Id, objects.Values.Select(o => new RunItemRecord(o.Uri, o.ETag, o.Size, true)).ToList(), "scan.pdf", ct);
        await store.CompleteListingAsync(run.Id, ct);
        CatalogObject scan = objects["scan.pdf"], locked = objects["locked.pdf"];
        await store.RecordDocumentsAsync(
            [new DocumentRecord(scan.Uri, scan.ETag, "pdf", 4, scan.Size, run.Id), new DocumentRecord(locked.Uri, locked.ETag, "pdf", null, locked.Size, run.Id)], ct);

        ResultRecord Result(string task, string text, int page) => new(scan.Uri, scan.ETag, Model, task, text, null, 1030, 5, 50, run.Id) { Page = page };
        await store.WriteBatchAsync(new ResultBatch(
            [
                Result(Caption, "first page", 1), Result(Ocr, "PAGE ONE", 1),
                Result(Caption, "second page", 2), Result(Ocr, "PAGE TWO", 2),
                Result(Caption, "a landscape page", 3),
            ],
            [
                new FailureRecord(scan.Uri, scan.ETag, Model, Ocr, "render", "page too large", run.Id) { Page = 3 },
                new FailureRecord(locked.Uri, locked.ETag, Model, Caption, "encrypted", "The PDF needs a password", run.Id),
                new FailureRecord(locked.Uri, locked.ETag, Model, Ocr, "encrypted", "The PDF needs a password", run.Id),
            ],
            [
                new ImageRecord(scan.Uri, scan.ETag, 448, 580, scan.Size) { Page = 1 },
                new ImageRecord(scan.Uri, scan.ETag, 448, 580, scan.Size) { Page = 2 },
                new ImageRecord(scan.Uri, scan.ETag, 580, 448, scan.Size) { Page = 3 },
            ]), ct);
    }
}

public sealed class SqliteDocumentStore() : DocumentStore(folder => new SqliteTestDatabase(folder));

public sealed class PostgresDocumentStore() : DocumentStore(_ => new PostgresTestDatabase());

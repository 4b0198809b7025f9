using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Pages of document archives in the store: the upgrade of a store that already holds results, page keys, the skip rule,
/// run status, superseding and the feed, run against every provider by one-line subclasses. Every expected number is
/// worked by hand from the rows each scenario writes.
/// </summary>
public abstract class DocumentPageScenarios(IStoreTarget target) : MigratedStoreScenarios(target)
{
    private const string Model = "paligemma2-3b-pt-448";
    private const string Caption = "caption en";
    private const string Ocr = "ocr";

    /// <summary>The last migration before pages, per provider.</summary>
    private string MigrationBeforePages =>
        Target.Provider == DatabaseProvider.Postgres ? "20261207010000_RunPartitions" : "20261207010001_RunPartitions";

    [SkippableFact]
    public async Task A_store_holding_results_upgrades_in_place_and_keeps_them_at_page_0()
    {
        // Given a store at the schema before pages, holding a result and a failure written by the older code
        Target.SkipOrThrowIfUnavailable();
        var connectionString = await Target.CreateEmptyDatabaseAsync(Ct);
        await using (var context = Stores.Factory(Target.Provider, connectionString).CreateDbContext())
        {
            await context.GetService<IMigrator>().MigrateAsync(MigrationBeforePages, cancellationToken: Ct);
            await context.Database.ExecuteSqlRawAsync(OldResultInsert("a dog on a beach"), Ct);
            await context.Database.ExecuteSqlRawAsync(
                "INSERT INTO failures (uri, etag, model, task, reason_code, message, attempts, run_id, created_at, updated_at) VALUES ('s3://b/old.jpg', 'e1', 'paligemma2-3b-pt-448', 'ocr', 'decode', 'truncated', 2, NULL, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                Ct);
        }

        // When the store is migrated to the latest schema (what pgpipe migrate and the embedded first use do)
        var store = Stores.Create(Target.Provider, connectionString, Time);
        await store.MigrateAsync(Ct);

        // Then nothing is pending, the rows are kept as whole objects, and search still finds the old text
        await using (var context = Stores.Factory(Target.Provider, connectionString).CreateDbContext())
        {
            Assert.Empty(await context.Database.GetPendingMigrationsAsync(Ct));
        }

        var kept = Assert.Single(await store.GetCurrentResultsAsync("s3://b/old.jpg", Ct));
        Assert.Equal(("a dog on a beach", (int?)null), (kept.Text, kept.Page));
        Assert.Equal("s3://b/old.jpg", Assert.Single(await store.SearchAsync("dog", 10, Ct)).Uri);
        var existing = await store.FindExistingResultsAsync([new ObjectVersion("s3://b/old.jpg", "e1")], Model, [Caption, Ocr], Ct);
        Assert.Equal([new ExistingResult("s3://b/old.jpg", "e1", Caption)], existing);

        // And the key is (uri, etag, page, model, task): the same whole-object row again conflicts, a page of it does not
        await using (var context = Stores.Factory(Target.Provider, connectionString).CreateDbContext())
        {
            await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => context.Database.ExecuteSqlRawAsync(OldResultInsert("again"), Ct));
            await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => context.Database.ExecuteSqlRawAsync(
                "INSERT INTO failures (uri, etag, page, model, task, reason_code, attempts, created_at, updated_at) VALUES ('s3://b/old.jpg', 'e1', 0, 'paligemma2-3b-pt-448', 'ocr', 'x', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                Ct));
        }

        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/old.jpg", "e1", Caption, "page one", page: 1)), Ct);
        var both = await store.GetCurrentResultsAsync("s3://b/old.jpg", Ct);
        Assert.Equal([(null, "a dog on a beach"), (1, "page one")], both.Select(r => (r.Page, r.Text)));

        // And a redelivery of the old whole-object result upserts the kept row instead of adding one
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/old.jpg", "e1", Caption, "a dog, rewritten")), Ct);
        var rewritten = (await store.GetCurrentResultsAsync("s3://b/old.jpg", Ct)).Single(r => r.Page is null);
        Assert.Equal((kept.Id, "a dog, rewritten"), (rewritten.Id, rewritten.Text));
    }

    [SkippableFact]
    public async Task Pages_are_separate_keys_and_a_redelivered_page_upserts_its_own_row()
    {
        var store = Store;

        // Given two pages of a document with a caption each, an OCR failure on each page, and the pages' sizes
        await store.WriteBatchAsync(new ResultBatch(
            [Result("s3://b/d.pdf", "e1", Caption, "first page", page: 1), Result("s3://b/d.pdf", "e1", Caption, "second page", page: 2)],
            [Failure("s3://b/d.pdf", "e1", Ocr, "render", page: 1), Failure("s3://b/d.pdf", "e1", Ocr, "render", page: 2)],
            [new ImageRecord("s3://b/d.pdf", "e1", 612, 792, 5000) { Page = 1 }, new ImageRecord("s3://b/d.pdf", "e1", 792, 612, 5000) { Page = 2 }])
        {
            Documents = [new DocumentRecord("s3://b/d.pdf", "e1", "pdf", 2, 5000, null)],
        }, Ct);
        var first = await store.GetCurrentResultsAsync("s3://b/d.pdf", Ct);

        // When page 1's caption is redelivered with new text, and page 2's OCR later succeeds
        Time.Advance(TimeSpan.FromSeconds(1));
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/d.pdf", "e1", Caption, "first page again", page: 1)), Ct);
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/d.pdf", "e1", Ocr, "TEXT", page: 2)), Ct);

        // Then each page keeps one row per task, page 1's row is the same row with the new text
        var current = await store.GetCurrentResultsAsync("s3://b/d.pdf", Ct);
        Assert.Equal([(1, Caption, "first page again"), (2, Caption, "second page"), (2, Ocr, "TEXT")], current.Select(r => (r.Page!.Value, r.Task, r.Text)));
        Assert.Equal(first.Single(r => r.Page == 1).Id, current.Single(r => r.Page == 1).Id);

        // And only page 2's OCR failure was replaced; page 1's remains, with the page sizes, in the document view
        var view = await store.GetDocumentAsync("s3://b/d.pdf", Model, Ct);
        Assert.NotNull(view);
        Assert.Equal(("e1", "pdf", (int?)2, 2), (view.ETag, view.Kind, view.PageCount, view.Pages.Count));
        Assert.Equal(("render", Ocr), (view.Pages[0].Failures.Single().ReasonCode, view.Pages[0].Failures.Single().Task));
        Assert.Empty(view.Pages[1].Failures);
        Assert.Equal([(1, (int?)612, (int?)792), (2, 792, 612)], view.Pages.Select(p => (p.Page, p.Width, p.Height)));
        // Page 1 failed its OCR, page 2 has both tasks: one done, one failed, not complete.
        Assert.Equal((1, 1, false), (view.PagesDone, view.PagesFailed, view.Complete));
        Assert.Null(view.Failure);

        // And the same page's images upsert too
        var sizes = await store.GetImagesAsync([new ObjectVersion("s3://b/d.pdf", "e1") { Page = 2 }], Ct);
        Assert.Equal((792, 612, 2), (Assert.Single(sizes).Width, sizes[0].Height, sizes[0].Page));
    }

    [SkippableFact]
    public async Task Done_pages_and_the_producer_skip_rule_follow_complete_incomplete_and_failed_documents()
    {
        var store = Store;

        // Given four documents: every page of both tasks done; page 2 missing OCR; could not be opened; a page failed
        await store.RecordDocumentsAsync(
        [
            new DocumentRecord("s3://b/complete.pdf", "e1", "pdf", 2, 100, null),
            new DocumentRecord("s3://b/incomplete.tif", "e1", "tiff", 2, 100, null),
            new DocumentRecord("s3://b/broken.pdf", "e1", "pdf", null, 100, null),
            new DocumentRecord("s3://b/pagefail.pdf", "e1", "pdf", 1, 100, null),
        ], Ct);
        await store.WriteBatchAsync(new ResultBatch(
            [
                Result("s3://b/complete.pdf", "e1", Caption, "c1", page: 1), Result("s3://b/complete.pdf", "e1", Caption, "c2", page: 2),
                Result("s3://b/complete.pdf", "e1", Ocr, "o1", page: 1), Result("s3://b/complete.pdf", "e1", Ocr, "o2", page: 2),
                Result("s3://b/incomplete.tif", "e1", Caption, "c1", page: 1), Result("s3://b/incomplete.tif", "e1", Caption, "c2", page: 2),
                Result("s3://b/incomplete.tif", "e1", Ocr, "o1", page: 1),
                Result("s3://b/pagefail.pdf", "e1", Ocr, "o1", page: 1),
            ],
            [Failure("s3://b/broken.pdf", "e1", Caption, "document"), Failure("s3://b/pagefail.pdf", "e1", Caption, "render", page: 1)],
            []), Ct);
        ObjectVersion[] listed =
        [
            new("s3://b/complete.pdf", "e1"), new("s3://b/incomplete.tif", "e1"), new("s3://b/broken.pdf", "e1"), new("s3://b/pagefail.pdf", "e1"),
        ];

        // When the producer looks the listed objects up (alone, and with superseding as a nightly page does)
        var existing = await store.FindExistingResultsAsync(listed, Model, [Caption, Ocr], Ct);
        var (_, combined) = await store.SupersedeAndFindExistingAsync(listed, Model, [Caption, Ocr], Ct);

        // Then a task counts as done only where every page has it: complete.pdf both, incomplete.tif caption, pagefail.pdf OCR
        ExistingResult[] expected =
        [
            new("s3://b/complete.pdf", "e1", Caption), new("s3://b/complete.pdf", "e1", Ocr), new("s3://b/incomplete.tif", "e1", Caption),
            new("s3://b/pagefail.pdf", "e1", Ocr),
        ];
        Assert.True(existing.SetEquals(expected), string.Join("; ", existing));
        Assert.True(combined.SetEquals(expected), string.Join("; ", combined));

        // And the expanding worker learns which pages are done in one call, and a page lookup matches on the page
        Assert.True((await store.FindDonePagesAsync(new ObjectVersion("s3://b/incomplete.tif", "e1"), Model, [Caption, Ocr], Ct))
            .SetEquals([(1, Caption), (2, Caption), (1, Ocr)]));
        Assert.Empty(await store.FindDonePagesAsync(new ObjectVersion("s3://b/broken.pdf", "e1"), Model, [Caption, Ocr], Ct));
        Assert.Empty(await store.FindDonePagesAsync(new ObjectVersion("s3://b/complete.pdf", "e2"), Model, [Caption, Ocr], Ct));
        var page2 = await store.FindExistingResultsAsync(
            [new ObjectVersion("s3://b/incomplete.tif", "e1") { Page = 2 }, new ObjectVersion("s3://b/pagefail.pdf", "e1") { Page = 1 }], Model, [Caption, Ocr], Ct);
        Assert.True(page2.SetEquals([
            new ExistingResult("s3://b/incomplete.tif", "e1", Caption) { Page = 2 },
            new ExistingResult("s3://b/pagefail.pdf", "e1", Ocr) { Page = 1 },
        ]), string.Join("; ", page2));
    }

    [SkippableFact]
    public async Task Run_status_counts_pages_once_a_document_is_recorded_and_pending_never_goes_below_zero()
    {
        var store = Store;
        var run = await store.CreateRunAsync(new RunDefinition("docs", "s3://b/", Model, [Caption, Ocr]), Ct);
        await store.RecordListedPageAsync(run.Id,
        [
            new RunItemRecord("s3://b/bad.pdf", "e1", 10, true), new RunItemRecord("s3://b/doc.pdf", "e1", 10, true), new RunItemRecord("s3://b/img.jpg", "e1", 10, true),
        ], "img.jpg", Ct);

        // Given three listed objects and two tasks, nothing expanded yet: one unit each
        var listed = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct);
        Assert.Equal((6L, 0L, 0L, 6L, 0L, 0L), (listed.Combinations, listed.Done, listed.Failed, listed.Pending, listed.Documents, listed.Pages));

        // When doc.pdf is recorded with 3 pages (bad.pdf could not be opened) and one page's caption is done,
        // plus results no unit of the run owns: doc.pdf at page 0 and at page 4
        await store.RecordDocumentsAsync(
            [new DocumentRecord("s3://b/doc.pdf", "e1", "pdf", 3, 10, run.Id), new DocumentRecord("s3://b/bad.pdf", "e1", "pdf", null, 10, run.Id)], Ct);
        await store.WriteBatchAsync(ResultBatch.Of(
            Result("s3://b/doc.pdf", "e1", Caption, "p1", run.Id, page: 1),
            Result("s3://b/doc.pdf", "e1", Caption, "stray whole", run.Id),
            Result("s3://b/doc.pdf", "e1", Caption, "stray page", run.Id, page: 4)), Ct);

        // Then units are bad.pdf 1 + doc.pdf 3 + img.jpg 1 = 5, x 2 tasks = 10; one done
        var expanded = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct);
        Assert.Equal((10L, 1L, 0L, 9L), (expanded.Combinations, expanded.Done, expanded.Failed, expanded.Pending));
        Assert.Equal((2L, 3L, 1L, 0L, 0L), (expanded.Documents, expanded.Pages, expanded.PagesDone, expanded.PagesFailed, expanded.DocumentsFailed));

        // When everything ends: img caption ok and OCR failed; doc pages 2, 3 caption and 1, 2 OCR ok, page 3 OCR failed;
        // bad.pdf fails as a document for both tasks
        await store.WriteBatchAsync(new ResultBatch(
            [
                Result("s3://b/img.jpg", "e1", Caption, "a cat", run.Id),
                Result("s3://b/doc.pdf", "e1", Caption, "p2", run.Id, page: 2), Result("s3://b/doc.pdf", "e1", Caption, "p3", run.Id, page: 3),
                Result("s3://b/doc.pdf", "e1", Ocr, "o1", run.Id, page: 1), Result("s3://b/doc.pdf", "e1", Ocr, "o2", run.Id, page: 2),
            ],
            [
                Failure("s3://b/img.jpg", "e1", Ocr, "decode", runId: run.Id), Failure("s3://b/doc.pdf", "e1", Ocr, "render", page: 3, runId: run.Id),
                Failure("s3://b/bad.pdf", "e1", Caption, "document", runId: run.Id), Failure("s3://b/bad.pdf", "e1", Ocr, "document", runId: run.Id),
            ],
            []), Ct);

        // Then done = img 1 + doc caption 3 + doc OCR 2 = 6, failed = img 1 + doc 1 + bad 2 = 4, pending exactly 0
        var ended = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct);
        Assert.Equal((10L, 6L, 4L, 0L), (ended.Combinations, ended.Done, ended.Failed, ended.Pending));
        Assert.Equal((2L, 3L, 5L, 1L, 1L), (ended.Documents, ended.Pages, ended.PagesDone, ended.PagesFailed, ended.DocumentsFailed));
    }

    [SkippableFact]
    public async Task A_document_failing_as_a_whole_after_its_pages_were_counted_leaves_nothing_pending()
    {
        var store = Store;
        var run = await store.CreateRunAsync(new RunDefinition("late", "s3://b/", Model, [Caption]), Ct);
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/late.pdf", "e1", 10, true)], "late.pdf", Ct);

        // Given a document of 3 pages, page 1 done and page 2 failed
        await store.RecordDocumentsAsync([new DocumentRecord("s3://b/late.pdf", "e1", "pdf", 3, 10, run.Id)], Ct);
        await store.WriteBatchAsync(new ResultBatch(
            [Result("s3://b/late.pdf", "e1", Caption, "p1", run.Id, page: 1)], [Failure("s3://b/late.pdf", "e1", Caption, "render", page: 2, runId: run.Id)], []), Ct);

        // When the document then fails as a whole (say its remaining page jobs could never be published)
        await store.WriteBatchAsync(new ResultBatch([], [Failure("s3://b/late.pdf", "e1", Caption, "document", runId: run.Id)], []), Ct);

        // Then its open page 3 counts as failed: 3 combinations, 1 done, 2 failed, 0 pending
        var status = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct);
        Assert.Equal((3L, 1L, 2L, 0L), (status.Combinations, status.Done, status.Failed, status.Pending));
        Assert.Equal((1L, 2L, 1L), (status.PagesDone, status.PagesFailed, status.DocumentsFailed));
    }

    [SkippableFact]
    public async Task A_new_etag_and_the_end_of_pass_sweep_supersede_every_page()
    {
        var store = Store;

        // Given two documents with two pages each
        await store.WriteBatchAsync(ResultBatch.Of(
            Result("s3://b/kept.pdf", "e1", Caption, "k1", page: 1), Result("s3://b/kept.pdf", "e1", Caption, "k2", page: 2),
            Result("s3://b/gone.pdf", "e1", Caption, "g1", page: 1), Result("s3://b/gone.pdf", "e1", Caption, "g2", page: 2)), Ct);

        // When kept.pdf is listed with a new ETag
        var changed = await store.MarkSupersededByNewEtagAsync([new ObjectVersion("s3://b/kept.pdf", "e2")], Ct);

        // Then both its pages are superseded, and no page of the old version counts as done
        Assert.Equal(2, changed);
        Assert.Empty(await store.GetCurrentResultsAsync("s3://b/kept.pdf", Ct));
        Assert.Empty(await store.FindDonePagesAsync(new ObjectVersion("s3://b/kept.pdf", "e1"), Model, [Caption], Ct));
        var feed = await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 4, Ct);
        Assert.Equal([1, 2], feed.Rows.Where(r => r.Uri == "s3://b/kept.pdf" && r.Superseded).Select(r => r.Page!.Value).Order());

        // When a completed listing no longer holds gone.pdf
        var run = await store.CreateRunAsync(new RunDefinition("pass", "s3://b/", Model, [Caption]), Ct);
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/kept.pdf", "e2", 10, true)], "kept.pdf", Ct);
        await store.CompleteListingAsync(run.Id, Ct);
        var swept = await store.MarkSupersededMissingAsync(run.Id, Ct);

        // Then the sweep supersedes both of its pages
        Assert.Equal(2, swept);
        Assert.Empty(await store.GetCurrentResultsAsync("s3://b/gone.pdf", Ct));
    }

    [SkippableFact]
    public async Task The_feed_and_search_name_the_page_and_whole_objects_have_none()
    {
        var store = Store;

        // Given a whole image and page 3 of a document
        await store.WriteBatchAsync(ResultBatch.Of(
            Result("s3://b/i.jpg", "e1", Caption, "a lighthouse"),
            Result("s3://b/d.pdf", "e1", Ocr, "invoice total", page: 3) with { Origin = ResultRecord.TextLayerOrigin }), Ct);

        // When reading the feed and searching
        var rows = (await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 2, Ct)).Rows;
        var hit = Assert.Single(await store.SearchAsync("invoice", 10, Ct));

        // Then the page travels with the row, is absent for the image, and the text layer's origin is kept
        Assert.Null(rows.Single(r => r.Uri == "s3://b/i.jpg").Page);
        Assert.Equal(3, rows.Single(r => r.Uri == "s3://b/d.pdf").Page);
        Assert.Equal(("s3://b/d.pdf", (int?)3), (hit.Uri, hit.Page));
        Assert.DoesNotContain("\"page\"", ChangeFeedJson.Serialize(ChangeLine.From(rows.Single(r => r.Uri == "s3://b/i.jpg"))), StringComparison.Ordinal);
        var id = rows.Single(r => r.Uri == "s3://b/d.pdf").Id;
        var detail = await store.GetResultAsync(id, Ct);
        Assert.Equal((3, "text_layer"), (detail!.Record.Page, detail.Record.Origin));
    }

    private string OldResultInsert(string text) =>
        "INSERT INTO results (uri, etag, model, task, text, boxes, prompt_tokens, generated_tokens, latency_ms, run_id, created_at, updated_at, superseded, change_seq) " +
        $"VALUES ('s3://b/old.jpg', 'e1', 'paligemma2-3b-pt-448', 'caption en', '{text}', NULL, 266, 12, 30.5, NULL, '2026-01-01 00:00:00', '2026-01-01 00:00:00', FALSE, 1)";

    private static ResultRecord Result(string uri, string etag, string task, string text, Guid? runId = null, int page = 0) =>
        new(uri, etag, Model, task, text, null, 266, 12, 30.5, runId) { Page = page };

    private static FailureRecord Failure(string uri, string etag, string task, string reason, int page = 0, Guid? runId = null) =>
        new(uri, etag, Model, task, reason, reason + " failed", runId) { Page = page };
}

public sealed class PostgresDocumentPageTests(PaliGemma.Pipeline.TestSupport.PostgresFixture fixture)
    : DocumentPageScenarios(new PostgresTarget(fixture)), IClassFixture<PaliGemma.Pipeline.TestSupport.PostgresFixture>;

public sealed class SqliteDocumentPageTests(SqliteFixture fixture)
    : DocumentPageScenarios(fixture), IClassFixture<SqliteFixture>;

/// <summary>The feed's JSON line names a page only for a page row; every other byte stays as before.</summary>
public sealed class ChangeLinePageTests
{
    [Fact]
    public void A_page_row_gains_a_trailing_page_key_and_a_whole_object_row_has_none()
    {
        var at = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var whole = new ChangeFeedRow(5, "s3://b/d.pdf", "e1", "m", "ocr", "hello", null, false, at, new ChangeCursor(0, 7));

        Assert.Equal(
            """{"cursor":"0:7","op":"upsert","id":5,"uri":"s3://b/d.pdf","etag":"e1","model":"m","task":"ocr","text":"hello","boxes":[],"prompt_tokens":0,"generated_tokens":0,"updated_at":"2026-01-02T03:04:05Z"}""",
            ChangeFeedJson.Serialize(ChangeLine.From(whole)));
        Assert.Equal(
            """{"cursor":"0:7","op":"upsert","id":5,"uri":"s3://b/d.pdf","etag":"e1","model":"m","task":"ocr","text":"hello","boxes":[],"prompt_tokens":0,"generated_tokens":0,"updated_at":"2026-01-02T03:04:05Z","page":2}""",
            ChangeFeedJson.Serialize(ChangeLine.From(whole with { Page = 2 })));
    }
}

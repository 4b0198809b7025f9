using Microsoft.EntityFrameworkCore;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>The store's behaviour, run against every provider by one-line subclasses.</summary>
public abstract class ResultStoreScenarios(IStoreTarget target) : MigratedStoreScenarios(target)
{
    private const string Model = "paligemma2-3b-pt-448";
    private const string Caption = "caption en";
    private const string Ocr = "ocr";

    [SkippableFact]
    public async Task Migrations_apply_on_an_empty_database_and_a_second_run_is_a_no_op()
    {
        // Given an empty database
        Target.SkipOrThrowIfUnavailable();
        var connectionString = await Target.CreateEmptyDatabaseAsync(Ct);
        await using (var context = Stores.Factory(Target.Provider, connectionString).CreateDbContext())
        {
            Assert.NotEmpty(await context.Database.GetPendingMigrationsAsync(Ct));
        }

        // When migrations are applied twice
        var store = Stores.Create(Target.Provider, connectionString, Time);
        await store.MigrateAsync(Ct);
        await store.MigrateAsync(Ct);

        // Then nothing is pending and the tables, view and search index answer
        await using (var context = Stores.Factory(Target.Provider, connectionString).CreateDbContext())
        {
            Assert.Empty(await context.Database.GetPendingMigrationsAsync(Ct));
            Assert.False(context.Database.HasPendingModelChanges(), "The EF model has changes no migration captures; add a migration for each provider.");
        }

        await store.WriteBatchAsync(ResultBatch.Of(Result("file:///a.jpg", "e1", Caption, "a dog on a beach")), Ct);
        Assert.Single(await store.SearchAsync("dog", 10, Ct));
    }

    [SkippableFact]
    public async Task Redelivery_upserts_one_row_and_the_change_reappears_in_the_feed()
    {
        var store = Store;

        // Given a result written once and read from the feed
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/a.jpg", "e1", Caption, "first text")), Ct);
        var first = await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 1, Ct);
        Assert.Single(first.Rows);

        // When the same (uri, etag, model, task) is delivered twice more, once inside one batch
        Time.Advance(TimeSpan.FromSeconds(1));
        await store.WriteBatchAsync(ResultBatch.Of(
            Result("s3://b/a.jpg", "e1", Caption, "second text"),
            Result("s3://b/a.jpg", "e1", Caption, "third text")), Ct);

        // Then there is still one row, holding the last text, and it reappears after the cursor exactly once
        var current = Assert.Single(await store.GetCurrentResultsAsync("s3://b/a.jpg", Ct));
        Assert.Equal("third text", current.Text);
        Assert.Equal(first.Rows[0].Id, current.Id);
        var again = await FeedPolling.ReadAtLeastAsync(store, first.Next, 1, Ct);
        var changed = Assert.Single(again.Rows);
        Assert.Equal("third text", changed.Text);
        Assert.Single((await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 1, Ct)).Rows);
    }

    [SkippableFact]
    public async Task A_failure_is_counted_then_replaced_by_a_later_success()
    {
        var store = Store;
        var run = await store.CreateRunAsync(new RunDefinition("nightly", "s3://b/", Model, [Caption]), Ct);
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/x.jpg", "e1", 10, true)], "x.jpg", Ct);

        // Given a failure, delivered twice
        var failure = new FailureRecord("s3://b/x.jpg", "e1", Model, Caption, "decode", "truncated JPEG", run.Id);
        await store.WriteBatchAsync(new ResultBatch([], [failure], []), Ct);
        await store.WriteBatchAsync(new ResultBatch([], [failure], []), Ct);

        // Then it counts as failed and is not "existing", so the next run retries it
        var failed = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct);
        Assert.Equal((1L, 1L, 0L, 0L), (failed.Combinations, failed.Failed, failed.Done, failed.Pending));
        Assert.Empty(await store.FindExistingResultsAsync([new ObjectVersion("s3://b/x.jpg", "e1")], Model, [Caption], Ct));
        var exported = Assert.Single(await ToListAsync(store.ExportRunAsync(run.Id, Ct)));
        Assert.Equal((ExportStatus.Failed, "decode", "truncated JPEG"), (exported.Status, exported.ReasonCode, exported.FailureMessage));

        // When a later delivery succeeds, and a stale failure is redelivered after it
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/x.jpg", "e1", Caption, "a cat", run.Id)), Ct);
        await store.WriteBatchAsync(new ResultBatch([], [failure], []), Ct);

        // Then the failure no longer counts
        var done = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct);
        Assert.Equal((1L, 0L, 1L, 0L), (done.Combinations, done.Failed, done.Done, done.Pending));
        Assert.Equal(ExportStatus.Ok, Assert.Single(await ToListAsync(store.ExportRunAsync(run.Id, Ct))).Status);
    }

    [SkippableFact]
    public async Task Failures_of_one_key_inside_one_batch_become_one_row_holding_the_last()
    {
        var store = Store;

        // Given one batch that records two failures for the same (uri, etag, model, task)
        var run = await store.CreateRunAsync(new RunDefinition("dupes", "s3://b/", Model, [Caption]), Ct);
        await store.WriteBatchAsync(new ResultBatch([], [
            new FailureRecord("s3://b/y.jpg", "e1", Model, Caption, "changed", "overwritten after listing", run.Id),
            new FailureRecord("s3://b/y.jpg", "e1", Model, Caption, "corrupt", "truncated JPEG", run.Id),
        ], []), Ct);

        // Then the store keeps one failure, the last one given, counted as one attempt
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/y.jpg", "e1", 10, true)], "y.jpg", Ct);
        var exported = Assert.Single(await ToListAsync(store.ExportRunAsync(run.Id, Ct)));
        Assert.Equal((ExportStatus.Failed, "corrupt", "truncated JPEG"), (exported.Status, exported.ReasonCode, exported.FailureMessage));
        Assert.Equal(1L, (await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), Ct)).Failed);
    }

    [SkippableFact]
    public async Task The_current_view_follows_the_listed_etag()
    {
        var store = Store;

        // Given results for two versions of one object, the newer written later
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/v.jpg", "old", Caption, "old picture")), Ct);
        Time.Advance(TimeSpan.FromMinutes(1));
        await store.WriteBatchAsync(ResultBatch.Of(Result("s3://b/v.jpg", "new", Caption, "new picture")), Ct);
        Assert.Equal("new", Assert.Single(await store.GetCurrentResultsAsync("s3://b/v.jpg", Ct)).ETag);

        // When a listing sees the new etag
        Assert.Equal(1, await store.MarkSupersededByNewEtagAsync([new ObjectVersion("s3://b/v.jpg", "new")], Ct));

        // Then the old version is superseded, and listing it again is a no-op
        Assert.Equal("new picture", Assert.Single(await store.GetCurrentResultsAsync("s3://b/v.jpg", Ct)).Text);
        Assert.Equal(0, await store.MarkSupersededByNewEtagAsync([new ObjectVersion("s3://b/v.jpg", "new")], Ct));

        // When the object is restored to the old content (old etag listed again)
        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, await store.MarkSupersededByNewEtagAsync([new ObjectVersion("s3://b/v.jpg", "old")], Ct));

        // Then the old result is current again, and the feed carries both flips
        Assert.Equal("old picture", Assert.Single(await store.GetCurrentResultsAsync("s3://b/v.jpg", Ct)).Text);
        var (feed, _) = await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 2, Ct);
        Assert.Equal(2, feed.Count);
        Assert.Contains(feed, r => r.ETag == "new" && r.Superseded);
        Assert.Contains(feed, r => r.ETag == "old" && !r.Superseded);
    }

    [SkippableFact]
    public async Task A_complete_listing_supersedes_objects_it_no_longer_finds()
    {
        var store = Store;

        // Given results for three objects under the source, one elsewhere, and one of another model
        await store.WriteBatchAsync(new ResultBatch(
            [
                Result("s3://b/p/a.jpg", "e", Caption, "a"),
                Result("s3://b/p/b.jpg", "e", Caption, "b"),
                Result("s3://b/p/gone.jpg", "e", Caption, "gone"),
                Result("s3://b/q/other.jpg", "e", Caption, "other prefix"),
                Result("s3://b/p/gone.jpg", "e", Caption, "other model") with { Model = "another-model" },
            ],
            [],
            []), Ct);
        var run = await store.CreateRunAsync(new RunDefinition("second", "s3://b/p/", Model, [Caption]), Ct);
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/p/a.jpg", "e", 1, false), new RunItemRecord("s3://b/p/b.jpg", "e", 1, false)], "p/b.jpg", Ct);

        // When the sweep is asked for before the listing completed, it refuses
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.MarkSupersededMissingAsync(run.Id, Ct));

        // When the listing completes and the sweep runs
        await store.CompleteListingAsync(run.Id, Ct);
        var swept = await store.MarkSupersededMissingAsync(run.Id, Ct);

        // Then only the vanished object's result of the run's model is superseded
        Assert.Equal(1, swept);
        Assert.Equal(["another-model"], (await store.GetCurrentResultsAsync("s3://b/p/gone.jpg", Ct)).Select(r => r.Model));
        Assert.Single(await store.GetCurrentResultsAsync("s3://b/p/a.jpg", Ct));
        Assert.Single(await store.GetCurrentResultsAsync("s3://b/q/other.jpg", Ct));
        Assert.Equal(0, await store.MarkSupersededMissingAsync(run.Id, Ct));
    }

    [SkippableFact]
    public async Task Search_ranks_current_results_and_ignores_superseded_ones()
    {
        var store = Store;

        // Given texts that match "red car" more or less, and a superseded one that matches best of all
        await store.WriteBatchAsync(new ResultBatch(
            [
                Result("s3://b/1.jpg", "e", Caption, "a red car parked behind another red car beside a red car wash"),
                Result("s3://b/2.jpg", "e", Caption, "a red bicycle leaning on a wall near a parked car"),
                Result("s3://b/3.jpg", "e", Caption, "a blue boat on a lake"),
                Result("s3://b/4.jpg", "old", Caption, "red car red car red car red car red car"),
            ],
            [],
            []), Ct);
        await store.MarkSupersededByNewEtagAsync([new ObjectVersion("s3://b/4.jpg", "new")], Ct);

        // When searching
        var hits = await store.SearchAsync("red car", 10, Ct);

        // Then the denser match ranks first, non-matching and superseded texts are absent
        Assert.Equal(["s3://b/1.jpg", "s3://b/2.jpg"], hits.Select(h => h.Uri));
        Assert.True(hits[0].Rank > hits[1].Rank, $"ranks {hits[0].Rank} vs {hits[1].Rank}");
        Assert.Contains("[red]", hits[0].Snippet, StringComparison.Ordinal);
        Assert.Equal((Caption, Model), (hits[0].Task, hits[0].Model));

        // And stemming finds the plural
        Assert.Equal(2, (await store.SearchAsync("cars", 10, Ct)).Count);
        Assert.Empty(await store.SearchAsync("submarine", 10, Ct));
    }

    [SkippableFact]
    public async Task Skip_existing_returns_only_successful_combinations_of_the_page()
    {
        var store = Store;

        // Given results for some (object, task) combinations, a failure, an old etag and another model
        await store.WriteBatchAsync(new ResultBatch(
            [
                Result("s3://b/a.jpg", "e1", Caption, "a"),
                Result("s3://b/a.jpg", "e1", Ocr, "A"),
                Result("s3://b/b.jpg", "e1", Caption, "b"),
                Result("s3://b/d.jpg", "e0", Caption, "old version of d"),
                Result("s3://b/b.jpg", "e1", Ocr, "other model") with { Model = "another-model" },
            ],
            [new FailureRecord("s3://b/c.jpg", "e1", Model, Caption, "decode", null, null)],
            []), Ct);

        // When the producer asks about a listed page
        var existing = await store.FindExistingResultsAsync(
            [new ObjectVersion("s3://b/a.jpg", "e1"), new ObjectVersion("s3://b/b.jpg", "e1"), new ObjectVersion("s3://b/c.jpg", "e1"), new ObjectVersion("s3://b/d.jpg", "e1")],
            Model,
            [Caption, Ocr],
            Ct);

        // Then exactly the successful combinations of this model and these etags come back
        Assert.Equal(
            new HashSet<ExistingResult>
            {
                new("s3://b/a.jpg", "e1", Caption),
                new("s3://b/a.jpg", "e1", Ocr),
                new("s3://b/b.jpg", "e1", Caption),
            },
            existing);
    }

    [SkippableFact]
    public async Task Export_has_one_row_per_object_and_task_including_reused_results()
    {
        var store = Store;

        // Given an earlier run's result for a.jpg caption, reused by a second run over a, b, c
        var earlier = await store.CreateRunAsync(new RunDefinition("earlier", "s3://b/", Model, [Caption]), Ct);
        await store.WriteBatchAsync(new ResultBatch(
            [Result("s3://b/a.jpg", "e", Caption, "reused caption", earlier.Id)],
            [],
            [new ImageRecord("s3://b/a.jpg", "e", 640, 480, 1234)]), Ct);
        var run = await store.CreateRunAsync(new RunDefinition("later", "s3://b/", Model, [Caption, Ocr]), Ct);
        await store.RecordListedPageAsync(run.Id,
            [new RunItemRecord("s3://b/a.jpg", "e", 1234, true), new RunItemRecord("s3://b/b.jpg", "e", 99, true), new RunItemRecord("s3://b/c.jpg", "e", 5, true)],
            "c.jpg",
            Ct);
        await store.WriteBatchAsync(new ResultBatch(
            [Result("s3://b/a.jpg", "e", Ocr, "A", run.Id), Result("s3://b/b.jpg", "e", Caption, "bee", run.Id)],
            [new FailureRecord("s3://b/b.jpg", "e", Model, Ocr, "timeout", "generation timed out", run.Id)],
            [new ImageRecord("s3://b/b.jpg", "e", 32, 16, 99)]), Ct);

        // When exporting the second run
        var rows = await ToListAsync(store.ExportRunAsync(run.Id, Ct));

        // Then every (object, task) appears once with its status, text and image size
        Assert.Equal(
            [
                ("s3://b/a.jpg", Caption, ExportStatus.Ok, "reused caption", (int?)640),
                ("s3://b/a.jpg", Ocr, ExportStatus.Ok, "A", 640),
                ("s3://b/b.jpg", Caption, ExportStatus.Ok, "bee", 32),
                ("s3://b/b.jpg", Ocr, ExportStatus.Failed, null, 32),
                ("s3://b/c.jpg", Caption, ExportStatus.Pending, null, null),
                ("s3://b/c.jpg", Ocr, ExportStatus.Pending, null, null),
            ],
            rows.Select(r => (r.Uri, r.Task, r.Status, r.Text, r.Width)));
        Assert.Equal(480, rows[0].Height);

        // And the run status agrees, with throughput from this run's own writes
        var status = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(2), Ct);
        Assert.Equal((3L, 3L, 6L, 3L, 1L, 2L), (status.Listed, status.Enqueued, status.Combinations, status.Done, status.Failed, status.Pending));
        Assert.Equal(1.0, status.ThroughputPerMinute, 6);
        Assert.Equal(TimeSpan.FromMinutes(2), status.Eta);
        Assert.Equal([new ImageRecord("s3://b/b.jpg", "e", 32, 16, 99)], await store.GetImagesAsync([new ObjectVersion("s3://b/b.jpg", "e"), new ObjectVersion("s3://b/z.jpg", "e")], Ct));
    }

    [SkippableFact]
    public async Task A_parallel_listing_keeps_one_resume_key_per_partition_until_the_listing_completes()
    {
        var store = Store;

        // Given a run whose partitions recorded pages independently, one of them listed to its end
        var run = await store.CreateRunAsync(new RunDefinition("parallel", "s3://b/", Model, [Caption]), Ct);
        Assert.Equal(1, await store.RecordListedPartitionPageAsync(run.Id, "prefix:a/", [new RunItemRecord("s3://b/a/1", "e", 1, true)], "a/1", Ct));
        Assert.Equal(1, await store.RecordListedPartitionPageAsync(run.Id, "prefix:b/", [new RunItemRecord("s3://b/b/1", "e", 1, false)], "b/1", Ct));
        Assert.Equal(1, await store.RecordListedPartitionPageAsync(run.Id, "prefix:a/", [new RunItemRecord("s3://b/a/2", "e", 1, true)], "a/2", Ct));
        await store.CompleteListingPartitionAsync(run.Id, "prefix:b/", Ct);

        // Then each partition resumes after its own last key, the run's single key stays unset, and counts add up
        var partitions = await store.GetListingPartitionsAsync(run.Id, Ct);
        Assert.Equal(new ListingPartition("a/2", false), partitions["prefix:a/"]);
        Assert.Equal(new ListingPartition("b/1", true), partitions["prefix:b/"]);
        var after = await store.GetRunAsync(run.Id, Ct);
        Assert.Equal((null, 3L, 2L), (after!.LastListedKey, after.ListedCount, after.EnqueuedCount));

        // And a completed listing drops them, so the next pass starts every partition from its beginning
        await store.CompleteListingAsync(run.Id, Ct);
        Assert.Empty(await store.GetListingPartitionsAsync(run.Id, Ct));
    }

    [SkippableFact]
    public async Task A_resumed_listing_never_duplicates_run_items()
    {
        var store = Store;

        // Given a run that recorded one page and then crashed
        var run = await store.CreateRunAsync(new RunDefinition("resume", "s3://b/", Model, [Caption]), Ct);
        Assert.Equal(2, await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/1", "e", 1, true), new RunItemRecord("s3://b/2", "e", 1, false)], "2", Ct));

        // When the resumed producer re-records an overlapping page
        var resumed = await store.GetRunAsync("resume", Ct);
        Assert.Equal("2", resumed!.LastListedKey);
        Assert.Equal(1, await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://b/2", "e", 1, false), new RunItemRecord("s3://b/3", "e", 1, true)], "3", Ct));

        // Then each object is counted once, and the name cannot be reused for a new run
        var after = await store.GetRunAsync(run.Id, Ct);
        Assert.Equal(("3", 3L, 2L, false), (after!.LastListedKey, after.ListedCount, after.EnqueuedCount, after.ListingCompleted));
        Assert.Equal([Caption], after.Tasks);
        var status = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(1), Ct);
        Assert.Equal(3, status.Listed);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.CreateRunAsync(new RunDefinition("resume", "s3://b/", Model, [Caption]), Ct));
    }

    [SkippableFact]
    public async Task Pages_larger_than_one_statement_keep_every_row_once()
    {
        var store = Store;

        // Given a page of 1,500 objects (more than one 1,000-row statement on Postgres, so the last one is shorter),
        // listed twice with one object listed again under a new etag and one failure the results replace
        var objects = Enumerable.Range(0, 1500).Select(i => new ObjectVersion($"s3://big/{i:D5}.jpg", "e")).ToList();
        var run = await store.CreateRunAsync(new RunDefinition("big", "s3://big/", Model, [Caption, Ocr]), Ct);
        Assert.Equal(1500, await store.RecordListedPageAsync(run.Id, objects.Select((o, i) => new RunItemRecord(o.Uri, o.ETag, i, i % 3 != 0)).ToList(), objects[^1].Uri, Ct));
        Assert.Equal(1, await store.RecordListedPageAsync(run.Id, objects.Select(o => new RunItemRecord(o.Uri, o.Uri.EndsWith("01234.jpg", StringComparison.Ordinal) ? "e2" : o.ETag, 7, true)).ToList(), null, Ct));
        await store.WriteBatchAsync(new ResultBatch([], [new FailureRecord(objects[1499].Uri, "e", Model, Ocr, "decode", null, run.Id)], []), Ct);

        // When one batch writes both tasks of every object, their images, and then some failures that must be ignored
        var results = objects.SelectMany(o => new[] { Result(o.Uri, o.ETag, Caption, "caption " + o.Uri, run.Id), Result(o.Uri, o.ETag, Ocr, "ocr", run.Id) }).ToList();
        await store.WriteBatchAsync(new ResultBatch(results, [new FailureRecord(objects[0].Uri, "e", Model, Caption, "late", null, run.Id)], objects.Select((o, i) => new ImageRecord(o.Uri, o.ETag, i + 1, 2, 3)).ToList()), Ct);

        // Then counts, resume key, skip-existing, images and the feed all see each row exactly once
        var after = await store.GetRunAsync(run.Id, Ct);
        Assert.Equal((objects[^1].Uri, 1501L, 1001L), (after!.LastListedKey, after.ListedCount, after.EnqueuedCount));
        var status = await store.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(1), Ct);
        Assert.Equal((1500L, 2998L, 0L, 2L), (status.Listed, status.Done, status.Failed, status.Pending));
        Assert.Equal(3000, (await store.FindExistingResultsAsync(objects, Model, [Caption, Ocr], Ct)).Count);
        var images = await store.GetImagesAsync(objects, Ct);
        Assert.Equal(Enumerable.Range(1, 1500), images.Select(i => i.Width).Order());
        var (rows, _) = await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 3000, Ct, pageSize: 1000);
        Assert.Equal(3000, rows.Count);
        Assert.Equal(3000, rows.Select(r => (r.Uri, r.Task)).Distinct().Count());

        // And superseding by a new etag changes only the object whose etag moved
        Assert.Equal(2, await store.MarkSupersededByNewEtagAsync(objects.Select(o => o.Uri.EndsWith("01234.jpg", StringComparison.Ordinal) ? o with { ETag = "e2" } : o).ToList(), Ct));
    }

    [SkippableFact]
    public async Task A_follower_yields_rows_committed_after_it_started_page_by_page_with_their_token_counts()
    {
        var store = Store;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // Given a follower of the empty feed, with pages of two rows and a 200 ms interval
        await using var follower = store.FollowChangesAsync(ChangeCursor.Start, 2, TimeSpan.FromMilliseconds(200), timeout.Token).GetAsyncEnumerator(timeout.Token);
        var first = follower.MoveNextAsync().AsTask();
        await Task.Delay(500, timeout.Token);
        Assert.False(first.IsCompleted, "the follower yielded a page of an empty feed");

        // When three rows commit
        await store.WriteBatchAsync(new ResultBatch(
            Enumerable.Range(0, 3).Select(i => Result($"s3://f/{i}.jpg", "e", Caption, "text")).ToList(), [], []), timeout.Token);

        // Then they arrive in order, in pages of at most two, with the token counts written
        var rows = new List<ChangeFeedRow>();
        Assert.True(await first);
        rows.AddRange(follower.Current.Rows);
        while (rows.Count < 3)
        {
            Assert.True(await follower.MoveNextAsync());
            Assert.InRange(follower.Current.Rows.Count, 1, 2);
            rows.AddRange(follower.Current.Rows);
        }

        Assert.Equal(["s3://f/0.jpg", "s3://f/1.jpg", "s3://f/2.jpg"], rows.Select(r => r.Uri));
        Assert.All(rows, r => Assert.Equal((266, 12), (r.PromptTokens, r.GeneratedTokens)));
    }

    [SkippableFact]
    public async Task The_feed_pages_every_row_once_in_order()
    {
        var store = Store;

        // Given 25 rows written in five batches
        for (var b = 0; b < 5; b++)
        {
            await store.WriteBatchAsync(new ResultBatch(
                Enumerable.Range(0, 5).Select(i => Result($"s3://b/{b}-{i}.jpg", "e", Caption, "text")).ToList(), [], []), Ct);
        }

        // When reading in pages of 7 with a persistent cursor
        var seen = new List<ChangeFeedRow>();
        var cursor = ChangeCursor.Parse(ChangeCursor.Start.ToString());
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < 25 && DateTime.UtcNow < deadline)
        {
            var page = await store.ReadChangesAsync(cursor, 7, Ct);
            seen.AddRange(page.Rows);
            cursor = ChangeCursor.Parse(page.Next.ToString());
        }

        seen.AddRange((await store.ReadChangesAsync(cursor, 7, Ct)).Rows);

        // Then every row came once, in write order
        Assert.Equal(25, seen.Select(r => r.Uri).Distinct().Count());
        Assert.Equal(25, seen.Count);
        Assert.Equal(seen.OrderBy(r => r.Id).Select(r => r.Id), seen.Select(r => r.Id));
    }

    [SkippableFact]
    public async Task Concurrent_worker_batches_all_land_once()
    {
        var store = Store;

        // Given four workers writing 20 batches of 10 each at the same time, with every batch delivered twice
        await Task.WhenAll(Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var b = 0; b < 20; b++)
            {
                var batch = new ResultBatch(
                    Enumerable.Range(0, 10).Select(i => Result($"s3://b/{w}/{b}/{i}.jpg", "e", Caption, "text")).ToList(), [], []);
                await store.WriteBatchAsync(batch, Ct);
                await store.WriteBatchAsync(batch, Ct);
            }
        })));

        // Then the feed, read from the start, holds each of the 800 objects exactly once
        var (rows, _) = await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 800, Ct, pageSize: 50);
        Assert.Equal(800, rows.Count);
        Assert.Equal(800, rows.Select(r => r.Uri).Distinct().Count());
    }

    private static ResultRecord Result(string uri, string etag, string task, string text, Guid? runId = null) =>
        new(uri, etag, Model, task, text, task == Ocr ? null : """{"boxes":[]}""", 266, 12, 30.5, runId);

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var item in source)
        {
            list.Add(item);
        }

        return list;
    }
}

public sealed class PostgresResultStoreTests(PaliGemma.Pipeline.TestSupport.PostgresFixture fixture)
    : ResultStoreScenarios(new PostgresTarget(fixture)), IClassFixture<PaliGemma.Pipeline.TestSupport.PostgresFixture>;

public sealed class SqliteResultStoreTests(SqliteFixture fixture)
    : ResultStoreScenarios(fixture), IClassFixture<SqliteFixture>;

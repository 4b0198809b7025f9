using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The whole distributed pipeline as deployed: real pgpipe processes (migrate, enqueue, two workers) against
/// Postgres, RabbitMQ and an S3 server, checked for exactly-once outcomes against the S3 listing, the error queue
/// and the change feed.
/// </summary>
public sealed class ExactlyOnceRunTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>
{
    private const string DeletedKey = "photos/1/set-3/deleted-after-enqueue.png";

    [SkippableFact]
    public async Task Three_hundred_images_with_bad_ones_are_done_exactly_once_then_reused_then_only_changed_ones_redone()
    {
        await using var run = await PipelineRun.CreateAsync(services, output, "exactly-once");
        var good = Enumerable.Range(0, 295).Select(i => (Key: $"photos/{i % 3}/set-{i % 7}/img-{i:D3}.png", Content: Images.Png(i))).ToList();
        var bad = new (string Key, byte[] Content, string Reason)[]
        {
            ("bad/not-an-image.png", Images.NotAnImage(), "not_an_image"),
            ("bad/nested/deeper/truncated.png", Images.TruncatedPng(), "corrupt"),
            ("bad/zero-bytes.png", [], "empty"),
            ("photos/2/bomb.png", Images.DecompressionBombHeader(), "too_large"),
            (DeletedKey, Images.Png(9999), "not_found"),
        };
        await run.UploadAsync(good.Concat(bad.Select(b => (b.Key, b.Content))));
        var listed = await run.ListAsync();
        Assert.Equal(300, listed.Count);
        var badReasons = bad.ToDictionary(b => run.UriOf(b.Key), b => b.Reason);
        var goodCombos = listed.Where(l => !badReasons.ContainsKey(l.Key)).SelectMany(l => PipelineRun.Tasks.Select(t => (l.Key, l.Value, t))).ToList();
        Assert.Equal(590, goodCombos.Count);

        // Pass 1: everything is new.
        var first = await run.EnqueueAsync("enqueue-1");
        Assert.Equal((false, 300L, 300L, 0L), (first.Resumed, first.Listed, first.Enqueued, first.Reused));
        Assert.Equal(run.QueueName, first.Queue);
        await run.DeleteAsync(DeletedKey);
        run.StartWorker("worker-1");
        run.StartWorker("worker-2");

        var snapshot = await run.WaitForAsync("600 (image, task) combinations done", s => s.Covered(listed) == 600, TimeSpan.FromMinutes(3),
            s => $"{s.Covered(listed)}/600 covered");
        ExactlyOnce.AssertOutcome(snapshot, listed, badReasons);
        Assert.All(snapshot.Failures, f => Assert.Equal(1, f.Attempts));
        var afterDelete = await run.ListAsync();
        Assert.Equal(listed.Keys.Where(k => k != run.UriOf(DeletedKey)).Order(), afterDelete.Keys.Order());
        Assert.True(await run.QueueDepthAsync(run.QueueName + "_error") is null or 0, "the model queue's _error queue must be empty or absent");

        var (feed, cursor) = await run.ReadFeedAsync(ChangeCursor.Start, goodCombos.Count, TimeSpan.FromSeconds(60));
        ExactlyOnce.AssertFeed(feed, goodCombos, "first pass");
        Assert.DoesNotContain(feed, r => r.Superseded);
        // No (image, task) was computed twice anywhere: the workers' own batch reports add up exactly.
        var totals = run.WorkerTotals();
        Assert.Equal((590, 10), (totals.Results, totals.Failures));
        output.WriteLine($"pass 1: {totals.Batches} batches; worker-1/worker-2 both consumed: {run.Processes.Count(p => p.Name.StartsWith("worker", StringComparison.Ordinal) && p.Log.Contains("Batch of", StringComparison.Ordinal))}");

        // Pass 2: the same command again. Nothing is recomputed; the four bad objects still listed are retried (by design,
        // failed combinations stay eligible) and fail again, which writes no result and so no change-feed row.
        var second = await run.EnqueueAsync("enqueue-2");
        Assert.Equal((first.RunName, true), (second.RunName, second.Resumed));
        Assert.Equal((299L, 4L, 295L), (second.Listed, second.Enqueued, second.Reused));
        var stillListedBad = bad.Where(b => b.Key != DeletedKey).Select(b => run.UriOf(b.Key)).ToHashSet();
        snapshot = await run.WaitForAsync("the 4 bad objects to be retried once", s => s.Failures.Count(f => stillListedBad.Contains(f.Uri) && f.Attempts == 2) == 8,
            TimeSpan.FromSeconds(90));
        ExactlyOnce.AssertOutcome(snapshot, listed, badReasons);
        var (unchanged, cursor2) = await run.ReadFeedAsync(cursor, 0, TimeSpan.FromSeconds(5));
        Assert.Empty(unchanged);
        Assert.Equal((590, 18), (run.WorkerTotals().Results, run.WorkerTotals().Failures));

        // Pass 3: ten objects change (new content, new ETag); exactly those are redone.
        var changed = good.Where((_, i) => i % 29 == 3).Take(10).Select((g, n) => (g.Key, Content: Images.Png(20_000 + n))).ToList();
        Assert.Equal(10, changed.Count);
        var newEtags = await run.UploadAsync(changed);
        var relisted = new Dictionary<string, string>(listed, StringComparer.Ordinal);
        foreach (var (key, etag) in newEtags)
        {
            Assert.NotEqual(listed[run.UriOf(key)], etag);
            relisted[run.UriOf(key)] = etag;
        }

        var third = await run.EnqueueAsync("enqueue-3");
        Assert.Equal((299L, 14L, 285L), (third.Listed, third.Enqueued, third.Reused));
        snapshot = await run.WaitForAsync("20 new results for the changed objects", s => s.Covered(relisted) == 600 && s.Failures.Count(f => f.Attempts == 3) == 8,
            TimeSpan.FromSeconds(90), s => $"{s.Covered(relisted)}/600 covered");
        ExactlyOnce.AssertOutcome(snapshot, relisted, badReasons);
        var changedUris = changed.Select(c => run.UriOf(c.Key)).ToHashSet();
        Assert.Equal(20, snapshot.Results.Count(r => r.Superseded));
        Assert.All(snapshot.Results.Where(r => r.Superseded), r => Assert.Equal(listed[r.Uri], r.ETag));
        Assert.All(snapshot.Results.Where(r => r.Superseded), r => Assert.Contains(r.Uri, changedUris));

        var (redone, _) = await run.ReadFeedAsync(cursor2, 40, TimeSpan.FromSeconds(60));
        ExactlyOnce.AssertFeed(redone, changedUris.SelectMany(u => PipelineRun.Tasks.Select(t => (u, relisted[u], t))), "after 10 objects changed");
        var supersededInFeed = redone.Where(r => r.Superseded).Select(r => (r.Uri, r.ETag, r.Task)).Order().ToList();
        Assert.Equal(changedUris.SelectMany(u => PipelineRun.Tasks.Select(t => (u, listed[u], t))).Order().ToList(), supersededInFeed);
        Assert.Equal(610, run.WorkerTotals().Results);

        var current = await run.Store.GetCurrentResultsAsync(changedUris.First(), CancellationToken.None);
        Assert.Equal(PipelineRun.Tasks.Order(), current.Select(c => c.Task).Order());
        Assert.All(current, c => Assert.Equal(relisted[changedUris.First()], c.ETag));
        Assert.True(await run.QueueDepthAsync(run.QueueName + "_error") is null or 0, "the model queue's _error queue must be empty or absent");
    }
}

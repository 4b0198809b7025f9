using System.Text.RegularExpressions;
using Npgsql;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Faults.Tests;

/// <summary>
/// Faults injected into a running pipeline (real pgpipe producer and two workers on the tiny model, 502 images of
/// which two are bad, against this suite's private PostgreSQL, RabbitMQ and s3rver), each followed by the exactly-once
/// check against the listing: one result or one failure per (object, task), no duplicates, nothing missing, and an
/// empty error queue. Each test records its row of the figures table (see <see cref="FaultFigures"/>).
/// </summary>
public sealed partial class FaultTests(FaultServices fixture, ITestOutputHelper output) : IClassFixture<FaultServices>
{
    private const int GoodImages = 500;

    /// <summary>Far longer than any run here needs; a hang fails with every process's log rather than stalling CI.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(4);

    /// <summary>One object per page and one send in flight: enumeration takes seconds, long enough to be interrupted.</summary>
    private static readonly Dictionary<string, string> SlowProducer = new() { ["Producer__PageSize"] = "1", ["Producer__MaxInFlight"] = "1" };

    [SkippableFact]
    public async Task A_worker_killed_with_SIGKILL_mid_batch_and_restarted_loses_and_duplicates_nothing()
    {
        await using var run = await PipelineRun.CreateAsync(fixture.Services, output, "fault-sigkill");
        var (listed, bad) = await PrepareAsync(run);
        // Longer generations, so that on an idle machine too the kill lands with most of the run still to do.
        var victim = await StartMidRunAsync(run, listed, maxNewTokens: 256);

        victim.KillHard();
        var killedAt = DateTime.UtcNow;
        Assert.NotEqual(0, await victim.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var coveredAtKill = (await run.SnapshotAsync()).Covered(listed);
        Assert.True(coveredAtKill < listed.Count * 2 * 0.75, $"{coveredAtKill} of {listed.Count * 2} combinations were done before the kill, so it was not mid-run");
        run.StartWorker("worker-1-restarted");

        await FinishAsync(run, "worker SIGKILL mid-batch, restarted", listed, bad, killedAt, $"killed at {coveredAtKill}/{listed.Count * 2} done");

        // Proof that the kill landed mid-batch: the victim held unacknowledged messages, which the broker redelivered.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        long redelivered;
        while ((redelivered = await run.RedeliveredAsync(run.QueueName)) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(1000);
        }

        output.WriteLine($"messages redelivered after the kill: {redelivered}");
        Assert.True(redelivered > 0, "the broker redelivered nothing, so the killed worker held no batch: the test proved nothing");
    }

    [SkippableFact]
    public async Task RabbitMQ_killed_for_20_s_mid_run_workers_and_producer_reconnect_by_themselves()
    {
        var broker = fixture.Control.RabbitMq;
        await using var run = await PipelineRun.CreateAsync(fixture.Services, output, "fault-rabbitmq");
        var (listed, bad) = await PrepareAsync(run);
        run.StartWorker("worker-1");
        run.StartWorker("worker-2");
        var producer = run.StartEnqueue("enqueue", SlowProducer);
        await WaitForRunItemsAsync(run, producer, 100);

        var stopped = DateTime.UtcNow;
        try
        {
            await broker.KillAsync(CancellationToken.None);
            Assert.False(producer.HasExited, $"the producer finished before the broker went down, so the test proved nothing:\n{producer.Log}");
            output.WriteLine($"broker down after {(DateTime.UtcNow - stopped).TotalSeconds:0.0} s; producer mid-enumeration at {await RunItemsAsync(run)} objects");
            await Task.Delay(TimeSpan.FromSeconds(20));
        }
        finally
        {
            await broker.StartAsync(CancellationToken.None);
        }

        var back = DateTime.UtcNow;
        Assert.Equal(0, await producer.WaitForExitAsync(RunTimeout));
        var summary = PipelineRun.ParseEnqueue(producer);
        Assert.Equal(listed.Count, summary.Listed);
        // The producer saw the broker gone (MassTransit's reconnect attempts) and still finished by itself: a send holds
        // until the connection is back, and a page whose send failed outright is retried whole.
        var reconnects = Count(producer.Log, "Connection Failed");
        var pageRetries = Count(producer.Log, "; retry ");
        Assert.True(reconnects + pageRetries > 0, $"the producer's log shows no sign of the outage, so the test proved nothing:\n{producer.Log}");
        var workerReconnects = Count(WorkerLogs(run), "Connection Failed");
        await FinishAsync(run, "RabbitMQ killed (SIGKILL), down 20 s mid-run", listed, bad, back,
            $"producer mid-enumeration: {reconnects} failed reconnects, {pageRetries} page retries, then finished by itself; workers: {workerReconnects} failed reconnects");
    }

    [SkippableFact]
    public async Task PostgreSQL_stopped_for_20_s_mid_run_batches_are_retried_and_nothing_reaches_the_error_queue()
    {
        var database = fixture.Control.Postgres;
        await using var run = await PipelineRun.CreateAsync(fixture.Services, output, "fault-postgres");
        var (listed, bad) = await PrepareAsync(run);
        // Longer generations, as in the worker kill: on an idle machine the default run is over before the stop lands.
        await StartMidRunAsync(run, listed, maxNewTokens: 64);

        NpgsqlConnection.ClearAllPools();
        var back = await OutageAsync(database.StopAsync, database.StartAsync, TimeSpan.FromSeconds(20));
        NpgsqlConnection.ClearAllPools();
        var failedAttempts = 0;
        var recovered = 0;
        await FinishAsync(run, "PostgreSQL stopped 20 s mid-run", listed, bad, back, () =>
        {
            var logs = WorkerLogs(run);
            failedAttempts = Count(logs, "Batch attempt ");
            recovered = Count(logs, "Batch succeeded after ");
            return $"{failedAttempts} batch attempts failed, {recovered} batches then succeeded on retry, {Count(logs, "go to the error queue")} given up";
        });
        Assert.True(failedAttempts > 0 && recovered > 0, $"the workers show no batch failing and then succeeding on retry:\n{run.ProcessSummary()}");
        Assert.Equal(0, Count(WorkerLogs(run), "go to the error queue"));
    }

    [SkippableFact]
    public async Task S3_stopped_for_10_s_mid_run_fetches_back_off_and_succeed()
    {
        var storage = fixture.Control.S3;
        await using var run = await PipelineRun.CreateAsync(fixture.Services, output, "fault-s3");
        var (listed, bad) = await PrepareAsync(run);
        await StartMidRunAsync(run, listed, maxNewTokens: 64);

        var back = await OutageAsync(storage.StopAsync, storage.StartAsync, TimeSpan.FromSeconds(10));
        var fetchRetries = Count(WorkerLogs(run), "; retry ");
        await FinishAsync(run, "S3 server stopped 10 s mid-run", listed, bad, back,
            () => $"{fetchRetries} fetch retries with backoff during the outage, {Count(WorkerLogs(run), "Batch attempt ")} batch attempts failed");
        Assert.True(fetchRetries > 0, $"no fetch was retried while the S3 server was down:\n{run.ProcessSummary()}");
    }

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Producer_killed_mid_enumeration_then_rerun_and_objects_deleted_or_overwritten_before_fetch(int listConcurrency)
    {
        await using var run = await PipelineRun.CreateAsync(fixture.Services, output, $"fault-producer-{listConcurrency}");
        var (listed, bad) = await PrepareAsync(run);

        // The producer dies mid-enumeration (one listing stream, or Producer:ListConcurrency partitions at once, each
        // with its own resume key); the same command again resumes after the last checkpoints.
        var producer = new Dictionary<string, string>(SlowProducer) { ["Producer__ListConcurrency"] = listConcurrency.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var first = run.StartEnqueue("enqueue-killed", producer);
        await WaitForRunItemsAsync(run, first, 100);
        first.KillHard();
        var killedAt = DateTime.UtcNow;
        Assert.NotEqual(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var checkpointed = await RunItemsAsync(run);
        Assert.InRange(checkpointed, 1, listed.Count - 1);
        var rerun = run.StartEnqueue("enqueue-rerun", new Dictionary<string, string> { ["Producer__ListConcurrency"] = producer["Producer__ListConcurrency"] });
        Assert.Equal(0, await rerun.WaitForExitAsync(TimeSpan.FromSeconds(120)));
        var resumed = PipelineRun.ParseEnqueue(rerun);
        Assert.True(resumed.Resumed, "the re-run must resume the killed run, not start another");
        Assert.Equal(listed.Count, await RunItemsAsync(run));
        // Exactly the objects no checkpoint covered were listed again: nothing skipped, nothing listed twice.
        Assert.Equal(listed.Count - checkpointed, resumed.Listed);

        // Between listing and fetch: five objects deleted, five overwritten with different pictures (new ETags).
        var keys = listed.Keys.Where(k => !bad.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var deleted = keys.Where((_, i) => i % 97 == 5).Take(5).ToList();
        var overwritten = keys.Where((_, i) => i % 89 == 7).Take(5).ToList();
        Assert.Empty(deleted.Intersect(overwritten));
        foreach (var uri in deleted)
        {
            await run.DeleteAsync(KeyOf(run, uri));
        }

        var replacements = overwritten.Select((uri, n) => (Key: KeyOf(run, uri), Content: Images.Png(90_001 + (n * 3)))).ToList();
        var newEtags = await run.UploadAsync(replacements);
        run.StartWorker("worker-1");
        run.StartWorker("worker-2");
        var firstPass = new Dictionary<string, string>(bad, StringComparer.Ordinal);
        foreach (var uri in deleted)
        {
            firstPass[uri] = "not_found";
        }

        // An overwritten object's listed version gets one 'changed' failure, and its new version is processed in the
        // same pass under the new ETag: the expected outcome per object is the new ETag's result.
        var firstPassVersions = new Dictionary<string, string>(listed, StringComparer.Ordinal);
        foreach (var uri in overwritten)
        {
            firstPassVersions[uri] = newEtags[KeyOf(run, uri)];
        }

        var firstSnapshot = await FinishAsync(run, listConcurrency == 1 ? "producer SIGKILL mid-enumeration, same command re-run" : $"producer SIGKILL mid-enumeration ({listConcurrency} partitions at once), same command re-run", firstPassVersions, firstPass, killedAt,
            $"killed after {checkpointed} objects checkpointed; re-run resumed and enqueued {resumed.Enqueued}");
        foreach (var uri in overwritten)
        {
            var changed = firstSnapshot.Failures.Where(f => f.Uri == uri && f.ETag == listed[uri]).ToList();
            Assert.Equal(PipelineRun.Tasks.Length, changed.Count);
            Assert.All(changed, f => Assert.Equal("changed", f.Reason));
            Assert.DoesNotContain(firstSnapshot.Results, r => r.Uri == uri && r.ETag == listed[uri]);
        }

        // The next pass (nightly) sees the new ETags, finds them done already, and retries only the bad objects; the
        // deleted objects stay failures.
        var relisted = await run.ListAsync();
        Assert.Equal(listed.Count - deleted.Count, relisted.Count);
        var nextPassStarted = DateTime.UtcNow;
        var nextPass = await run.EnqueueAsync("enqueue-next");
        Assert.Equal(bad.Count, nextPass.Enqueued);
        // Expected now: the catalog as relisted (new ETags), plus the deleted objects with their one 'not_found' failure.
        var secondPass = new Dictionary<string, string>(relisted, StringComparer.Ordinal);
        var secondReasons = new Dictionary<string, string>(bad, StringComparer.Ordinal);
        foreach (var uri in deleted)
        {
            secondPass[uri] = listed[uri];
            secondReasons[uri] = "not_found";
        }

        var snapshot = await FinishAsync(run, "5 objects deleted + 5 overwritten between listing and fetch", secondPass, secondReasons, nextPassStarted,
            "deleted: one 'not_found' failure each; overwritten: 'changed' for the listed ETag and the new ETag processed in the same pass, reused by the next");
        foreach (var uri in overwritten)
        {
            var oldEtag = listed[uri];
            Assert.DoesNotContain(snapshot.Results, r => r.Uri == uri && r.ETag == oldEtag);
            Assert.Equal(PipelineRun.Tasks.Length, snapshot.Results.Count(r => r.Uri == uri && r.ETag == newEtags[KeyOf(run, uri)] && !r.Superseded));
        }

        // The new ETag's result came from the new bytes: the stored image facts are the replacement's dimensions.
        foreach (var (key, content) in replacements)
        {
            using var image = SixLabors.ImageSharp.Image.Load(content);
            Assert.Equal((image.Width, image.Height), await ImageSizeAsync(run, run.UriOf(key), newEtags[key]));
        }
    }

    private static string KeyOf(PipelineRun run, string uri) => uri[$"s3://{run.Bucket}/".Length..];

    private async Task<(Dictionary<string, string> Listed, Dictionary<string, string> Bad)> PrepareAsync(PipelineRun run)
    {
        // Six top-level prefixes, each holding its objects directly: the partitions of a parallel listing (s3rver's
        // delimiter listing leaves out a folder that holds only sub-folders).
        var objects = Enumerable.Range(0, GoodImages).Select(i => (Key: $"in{i % 5}/{i:D4}.png", Content: Images.Png(i + 1000))).ToList();
        objects.Add(("bad/not-an-image.png", Images.NotAnImage()));
        objects.Add(("bad/truncated.png", Images.TruncatedPng()));
        await run.UploadAsync(objects);
        var listed = await run.ListAsync();
        Assert.Equal(GoodImages + 2, listed.Count);
        output.WriteLine($"{listed.Count} objects uploaded to {run.Bucket}");
        return (listed, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [run.UriOf("bad/not-an-image.png")] = "not_an_image",
            [run.UriOf("bad/truncated.png")] = "corrupt",
        });
    }

    /// <summary>Enqueues the catalog, starts two workers and waits until a quarter is done; returns the first worker.</summary>
    private static async Task<PgpipeProcess> StartMidRunAsync(PipelineRun run, Dictionary<string, string> listed, int maxNewTokens = 8)
    {
        await run.EnqueueAsync("enqueue", maxNewTokens);
        var first = run.StartWorker("worker-1");
        run.StartWorker("worker-2");
        await WaitForProgressAsync(run, listed, 0.25);
        return first;
    }

    /// <summary>
    /// Stops a service, keeps it down for <paramref name="duration"/>, and starts it again even if something throws
    /// meanwhile (the fixture needs it back); returns when it answers again.
    /// </summary>
    private static async Task<DateTime> OutageAsync(Func<CancellationToken, Task> stop, Func<CancellationToken, Task> start, TimeSpan duration)
    {
        try
        {
            await stop(CancellationToken.None);
            await Task.Delay(duration);
        }
        finally
        {
            await start(CancellationToken.None);
        }

        return DateTime.UtcNow;
    }

    /// <summary>Waits until a share of the combinations is done, so the fault lands mid-run with batches in flight.</summary>
    private static async Task WaitForProgressAsync(PipelineRun run, Dictionary<string, string> listed, double share)
    {
        var target = (int)(listed.Count * PipelineRun.Tasks.Length * share);
        await run.WaitForAsync($"{target} combinations done before the fault", s => s.Covered(listed) >= target, RunTimeout, s => $"{s.Covered(listed)} covered");
    }

    private static async Task WaitForRunItemsAsync(PipelineRun run, PgpipeProcess producer, int atLeast)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (await RunItemsAsync(run) < atLeast)
        {
            Assert.False(producer.HasExited, $"the producer exited before checkpointing {atLeast} objects:\n{producer.Log}");
            Assert.True(DateTime.UtcNow < deadline, $"the producer did not checkpoint {atLeast} objects within 2 minutes:\n{producer.Log}");
            await Task.Delay(50);
        }
    }

    private static async Task<int> RunItemsAsync(PipelineRun run)
    {
        await using var connection = new NpgsqlConnection(run.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM run_items", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<(int Width, int Height)> ImageSizeAsync(PipelineRun run, string uri, string etag)
    {
        await using var connection = new NpgsqlConnection(run.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT width, height FROM images WHERE uri = @u AND etag = @e", connection);
        command.Parameters.AddWithValue("u", uri);
        command.Parameters.AddWithValue("e", etag);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), $"no image row for {uri} at ETag {etag}");
        return (reader.GetInt32(0), reader.GetInt32(1));
    }

    /// <summary>
    /// Waits for every combination to be done, asserts the exactly-once outcome and an empty error queue, and records
    /// the figure. <paramref name="back"/> is when the service came back (or the killed process was replaced); the note
    /// is written once the run is complete.
    /// </summary>
    private Task<StoreSnapshot> FinishAsync(PipelineRun run, string fault, Dictionary<string, string> expected, Dictionary<string, string> badReasons,
        DateTime back, string note) => FinishAsync(run, fault, expected, badReasons, back, () => note);

    private async Task<StoreSnapshot> FinishAsync(PipelineRun run, string fault, Dictionary<string, string> expected, Dictionary<string, string> badReasons,
        DateTime back, Func<string> note)
    {
        var combinations = expected.Count * PipelineRun.Tasks.Length;
        var snapshot = await run.WaitForAsync($"{combinations} combinations done after: {fault}", s => s.Covered(expected) == combinations, RunTimeout,
            s => $"{s.Covered(expected)}/{combinations} covered");
        var completed = DateTime.UtcNow;
        ExactlyOnce.AssertOutcome(snapshot, expected, badReasons);
        var errorQueue = await run.QueueDepthAsync(run.QueueName + "_error");
        Assert.True(errorQueue is null or 0, $"the model queue's _error queue holds {errorQueue} message(s) after: {fault}\n{run.ProcessSummary()}");

        var current = snapshot.Results.Where(r => !r.Superseded && expected.TryGetValue(r.Uri, out var e) && e == r.ETag).ToList();
        var failures = snapshot.Failures.Where(f => expected.TryGetValue(f.Uri, out var e) && e == f.ETag).ToList();
        var outcomes = current.Select(r => (r.Uri, r.Task)).Concat(failures.Select(f => (f.Uri, f.Task))).ToList();
        var duplicates = outcomes.Count - outcomes.Distinct().Count();
        var missing = combinations - outcomes.Distinct().Count();
        var recomputed = Math.Max(0, run.WorkerTotals().Results - snapshot.Results.Count);
        var resumed = snapshot.Results.Where(r => r.CreatedAt > back).Select(r => (DateTime?)r.CreatedAt).Min();
        var figure = new FaultFigure(fault, expected.Count, combinations, current.Count, failures.Count, duplicates, missing, recomputed,
            resumed - back, completed - back, note());
        FaultFigures.Record(figure, output);
        Assert.Equal((0, 0), (duplicates, missing));
        return snapshot;
    }

    private static string WorkerLogs(PipelineRun run) =>
        string.Join('\n', run.Processes.Where(p => p.Name.StartsWith("worker", StringComparison.Ordinal)).Select(p => p.Log));

    private static int Count(string text, string what) => Regex.Count(text, Regex.Escape(what));
}

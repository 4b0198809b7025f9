using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// Workers that die or are stopped mid-run: a SIGKILLed worker's unacknowledged batch returns to the queue, a
/// SIGTERMed worker drains (finishes and acknowledges the batch in hand) and exits 0; either way a second worker
/// completes the run with the same exactly-once outcome.
/// </summary>
public sealed class WorkerShutdownTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>
{
    private const int GoodImages = 200;

    /// <summary>With 1000-token generations, batches of 48 take about 3.5 s on the tiny model; one batch in flight at a time.</summary>
    /// <summary>Into the second batch: right after the first one's log line the next batch may not have started yet.</summary>
    private static readonly TimeSpan MidBatch = TimeSpan.FromSeconds(1);

    private static readonly Dictionary<string, string> SlowBatches = new() { ["Worker__BatchSize"] = "48", ["Worker__ConcurrencyLimit"] = "1" };

    [SkippableFact]
    public async Task A_worker_killed_with_SIGKILL_mid_batch_then_restarted_leaves_the_same_exactly_once_outcome()
    {
        await using var run = await PipelineRun.CreateAsync(services, output, "sigkill");
        // Long batches (see the SIGTERM test), so the kill right after the first batch lands inside the second.
        var (listed, badReasons) = await PrepareAsync(run, maxNewTokens: 1000);

        var victim = run.StartWorker("worker-1", settings: SlowBatches);
        await WaitForLogAsync(victim, "Batch of", TimeSpan.FromSeconds(90));
        await Task.Delay(MidBatch);
        victim.KillHard();
        var code = await victim.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var covered = (await run.SnapshotAsync()).Covered(listed);
        output.WriteLine($"SIGKILL after the first batch; {covered} combinations covered after exit; exit code {code}");
        Assert.True(covered < listed.Count * 2, $"the worker finished all {listed.Count * 2} combinations before it was killed, so the test proved nothing");
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("Bus stopped", victim.Log, StringComparison.Ordinal);

        run.StartWorker("worker-2");
        var snapshot = await run.WaitForAsync($"{listed.Count * 2} combinations done", s => s.Covered(listed) == listed.Count * 2, TimeSpan.FromMinutes(2),
            s => $"{s.Covered(listed)}/{listed.Count * 2} covered");
        await AssertExactlyOnceAsync(run, snapshot, listed, badReasons);
    }

    [SkippableFact]
    public async Task A_worker_sent_SIGTERM_mid_batch_finishes_that_batch_exits_0_and_another_worker_completes_the_run_exactly_once()
    {
        await using var run = await PipelineRun.CreateAsync(services, output, "sigterm");
        // Long generations in big batches, so SIGTERM lands while a batch is on the model and its drain outlasts the
        // 2 s after which System.CommandLine would otherwise end the process (exit 143, batch abandoned).
        var (listed, badReasons) = await PrepareAsync(run, maxNewTokens: 1000);
        var stopping = run.StartWorker("worker-1", settings: SlowBatches);
        await WaitForLogAsync(stopping, "Batch of", TimeSpan.FromSeconds(90));
        await Task.Delay(MidBatch);
        var signalled = DateTime.UtcNow;
        stopping.Terminate();
        var code = await stopping.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var drained = DateTime.UtcNow - signalled;
        var covered = (await run.SnapshotAsync()).Covered(listed);
        output.WriteLine($"SIGTERM; exited {code} after {drained.TotalSeconds:0.0} s with {covered} combinations covered");
        Assert.True(code == 0, $"a drained worker must exit 0, got {code}:\n{stopping.Log}");
        Assert.True(covered < listed.Count * 2, $"the worker finished all {listed.Count * 2} combinations before SIGTERM, so the test proved nothing");
        var log = stopping.Log;
        var shuttingDown = log.IndexOf("Application is shutting down", StringComparison.Ordinal);
        var busStopped = log.IndexOf("Bus stopped", StringComparison.Ordinal);
        Assert.True(shuttingDown >= 0 && busStopped > shuttingDown, $"the worker's log must show the host shutting down and then the bus stopped:\n{log}");
        Assert.True(log.IndexOf("Batch of", shuttingDown, StringComparison.Ordinal) is var finished && finished > shuttingDown && finished < busStopped,
            $"the batch in hand when SIGTERM arrived must finish (and be acknowledged) before the bus stops:\n{log}");

        run.StartWorker("worker-2");
        var snapshot = await run.WaitForAsync($"{listed.Count * 2} combinations done", s => s.Covered(listed) == listed.Count * 2, TimeSpan.FromMinutes(3),
            s => $"{s.Covered(listed)}/{listed.Count * 2} covered");
        await AssertExactlyOnceAsync(run, snapshot, listed, badReasons);

        // A drain acknowledges exactly what it finished: the second worker recomputed nothing the first one had done.
        var totals = run.WorkerTotals();
        Assert.Equal((GoodImages * 2, 4, 0), (totals.Results, totals.Failures, totals.Skipped));
    }

    private static async Task WaitForLogAsync(PgpipeProcess process, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!process.Log.Contains(text, StringComparison.Ordinal))
        {
            Assert.False(process.HasExited, $"{process.Name} exited before logging '{text}':\n{process.Log}");
            Assert.True(DateTime.UtcNow < deadline, $"{process.Name} did not log '{text}' within {timeout}:\n{process.Log}");
            await Task.Delay(100);
        }
    }

    private static async Task<(Dictionary<string, string> Listed, Dictionary<string, string> BadReasons)> PrepareAsync(PipelineRun run, int maxNewTokens = 8)
    {
        var objects = Enumerable.Range(0, GoodImages).Select(i => (Key: $"in/{i % 4}/{i:D4}.png", Content: Images.Png(i + 500))).ToList();
        objects.Add(("in/bad/not-an-image.png", Images.NotAnImage()));
        objects.Add(("in/bad/truncated.png", Images.TruncatedPng()));
        await run.UploadAsync(objects);
        var listed = await run.ListAsync();
        Assert.Equal(GoodImages + 2, listed.Count);
        var badReasons = new Dictionary<string, string>
        {
            [run.UriOf("in/bad/not-an-image.png")] = "not_an_image",
            [run.UriOf("in/bad/truncated.png")] = "corrupt",
        };
        var enqueued = await run.EnqueueAsync("enqueue", maxNewTokens);
        Assert.Equal(GoodImages + 2, enqueued.Enqueued);
        return (listed, badReasons);
    }

    private static async Task AssertExactlyOnceAsync(PipelineRun run, StoreSnapshot snapshot, Dictionary<string, string> listed, Dictionary<string, string> badReasons)
    {
        ExactlyOnce.AssertOutcome(snapshot, listed, badReasons);
        Assert.Equal(listed.Keys.Order(), (await run.ListAsync()).Keys.Order());
        Assert.True(await run.QueueDepthAsync(run.QueueName + "_error") is null or 0, "the model queue's _error queue must be empty or absent");
        var goodCombos = listed.Where(l => !badReasons.ContainsKey(l.Key)).SelectMany(l => PipelineRun.Tasks.Select(t => (l.Key, l.Value, t))).ToList();
        var (feed, _) = await run.ReadFeedAsync(ChangeCursor.Start, goodCombos.Count, TimeSpan.FromSeconds(60));
        ExactlyOnce.AssertFeed(feed, goodCombos, "after the restart");
    }
}

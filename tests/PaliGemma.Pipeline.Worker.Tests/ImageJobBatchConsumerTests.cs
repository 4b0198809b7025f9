using MassTransit;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>
/// The batch consumer end to end inside one process: MassTransit's test harness (in-memory transport, the real
/// consumer definition), the real tiny model, a real SQLite store and a real local folder catalog. One harness per
/// scenario, so batches of one scenario never leak into another.
/// </summary>
[Collection(WorkerScenario.Collection)]
public sealed class ImageJobBatchConsumerTests(ITestOutputHelper output)
{
    private static readonly string[] Tasks = ["caption en", "ocr"];
    private readonly XunitSink _sink = new(output);

    [Fact]
    public async Task Good_images_get_results_and_bad_ones_get_failure_rows_without_faulting_the_batch()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var runId = Guid.NewGuid();
        var good = Enumerable.Range(0, 5).Select(i => scenario.WriteImage($"good/{i}.png", seed: i)).ToList();
        var corrupt = scenario.WriteBytes("bad/corrupt.png", TruncatedPng(scenario));
        var missing = (Uri: Path.Combine(scenario.Root, "bad", "missing.png"), ETag: "0123456789abcdef");
        var jobs = good.Select(g => scenario.Job(runId, g)).Append(scenario.Job(runId, corrupt)).Append(scenario.Job(runId, missing)).ToList();

        await scenario.SendAsync(jobs);
        var batches = await scenario.WaitForBatchesAsync(jobs.Count, TimeSpan.FromSeconds(60));

        Assert.All(batches, b => Assert.Null(b.Exception));
        Assert.False(await scenario.Harness.Published.Any<Fault<ImageJob>>(), "no job of the batch may fault");
        Assert.True(await scenario.Harness.Consumed.Any<ImageJob>(x => x.Context.Message.Uri == corrupt.Uri));

        var feed = await scenario.ReadFeedAsync(ChangeCursor.Start);
        var expected = good.SelectMany(g => Tasks.Select(t => (g.Uri, g.ETag, t))).Order().ToList();
        Assert.Equal(expected, feed.Select(r => (r.Uri, r.ETag, r.Task)).Order().ToList());
        Assert.All(feed, r => Assert.Equal("tiny:fp32", r.Model));
        Assert.All(feed, r => Assert.False(r.Superseded));

        var failures = await scenario.ReadFailuresAsync();
        Assert.Equal(4, failures.Count);
        Assert.Equal(Tasks.Order(), failures.Where(f => f.Uri == corrupt.Uri).Select(f => f.Task).Order());
        Assert.Equal(Tasks.Order(), failures.Where(f => f.Uri == missing.Uri).Select(f => f.Task).Order());
        Assert.All(failures.Where(f => f.Uri == corrupt.Uri), f => Assert.Equal("corrupt", f.Reason));
        Assert.All(failures.Where(f => f.Uri == missing.Uri), f => Assert.Equal("not_found", f.Reason));
        Assert.All(failures, f => Assert.False(string.IsNullOrWhiteSpace(f.Message), $"failure of {f.Uri} has no message"));
        Assert.All(failures, f => Assert.Equal(1, f.Attempts));
    }

    [Fact]
    public async Task A_redelivered_batch_takes_the_already_done_path_without_inference_or_duplicates()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var runId = Guid.NewGuid();
        var jobs = Enumerable.Range(0, 6).Select(i => scenario.Job(runId, scenario.WriteImage($"n/{i}.png", seed: 40 + i))).ToList();

        await scenario.SendAsync(jobs);
        await scenario.WaitForBatchesAsync(jobs.Count, TimeSpan.FromSeconds(60));
        var firstFeed = await scenario.ReadFeedAsync(ChangeCursor.Start);
        Assert.Equal(jobs.Count * Tasks.Length, firstFeed.Count);
        var statsBefore = scenario.ModelHost.Model.Statistics;

        // The same messages again, as after a crash between commit and ack.
        await scenario.SendAsync(jobs);
        var batches = await scenario.WaitForBatchesAsync(2 * jobs.Count, TimeSpan.FromSeconds(60));

        Assert.All(batches, b => Assert.Null(b.Exception));
        Assert.False(await scenario.Harness.Published.Any<Fault<ImageJob>>());
        var statsAfter = scenario.ModelHost.Model.Statistics;
        Assert.Equal(statsBefore.Images, statsAfter.Images);
        Assert.Equal(statsBefore.Batches, statsAfter.Batches);
        Assert.Equal(statsBefore.GeneratedTokens, statsAfter.GeneratedTokens);
        Assert.Empty(await scenario.ReadFeedAsync(firstFeed[^1].Position));
        var all = await scenario.ReadFeedAsync(ChangeCursor.Start);
        Assert.Equal(all.Count, all.Select(r => (r.Uri, r.ETag, r.Task)).Distinct().Count());
        Assert.Empty(await scenario.ReadFailuresAsync());
    }

    [Fact]
    public async Task A_job_for_another_model_faults_instead_of_running_on_the_wrong_model()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var image = scenario.WriteImage("other.png", seed: 7);
        var job = scenario.Job(Guid.NewGuid(), image, model: "paligemma2-3b-pt-448:fp32");

        var started = DateTime.UtcNow;
        await scenario.SendAsync([job]);

        Assert.True(await scenario.Harness.Published.Any<Fault<ImageJob>>(x => x.Context.Message.Message.Uri == image.Uri),
            "a misrouted job must fault (and so reach the error queue)");
        var consumed = scenario.Consumer.Consumed.Select<Batch<ImageJob>>().ToList();
        Assert.NotEmpty(consumed);
        var fault = Assert.IsType<MisroutedJobException>(Assert.Single(consumed).Exception);
        Assert.Equal("paligemma2-3b-pt-448:fp32", fault.JobModel);
        Assert.Equal("tiny:fp32", fault.ServedModel);
        // Retrying cannot route it elsewhere: the fault must come at once, not after the minute of infrastructure retries.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), $"the fault took {DateTime.UtcNow - started}");
        Assert.Empty(await scenario.ReadFeedAsync(ChangeCursor.Start));
        Assert.Empty(await scenario.ReadFailuresAsync());
        Assert.Equal(0, scenario.ModelHost.Model.Statistics.Images);
    }

    [Fact]
    public async Task A_batch_past_its_time_limit_is_abandoned_with_a_timeout_failure_per_combination_and_nothing_faults()
    {
        // Given a one-second batch limit and one batch of images that take far longer than that to decode one after
        // the other (each 49 MP image takes 0.3 s here; 24 of them stay past the limit on a machine five times faster)
        await using var scenario = await WorkerScenario.StartAsync(_sink, new Dictionary<string, string?>
        {
            ["Worker:MaxBatchDurationMs"] = "1000",
            ["Worker:DecodeParallelism"] = "1",
            ["Worker:BatchSize"] = "32",
            ["Worker:BatchTimeLimitMs"] = "500",
        });
        var runId = Guid.NewGuid();
        var huge = SolidPng(7000, 7000);
        var jobs = Enumerable.Range(0, 24).Select(i => scenario.Job(runId, scenario.WriteBytes($"huge/{i}.png", huge))).ToList();

        // When the batch runs
        var started = DateTime.UtcNow;
        await scenario.SendAsync(jobs);
        var batches = await scenario.WaitForBatchesAsync(jobs.Count, TimeSpan.FromSeconds(60));

        // Then it ends soon after the limit, every combination has exactly one 'timeout' failure, no result, no fault
        Assert.All(batches, b => Assert.Null(b.Exception));
        Assert.False(await scenario.Harness.Published.Any<Fault<ImageJob>>(), "an abandoned batch must not fault");
        // Soon means the limit plus the image in hand (0.3 s here), not whenever the deadline's timer gets a thread: the
        // decode keeps the thread pool busy, and a timer-only deadline fired after 8 s or, once, not before the batch had
        // finished. 6 s leaves room for a machine five times slower than this one.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(6), $"the batch took {DateTime.UtcNow - started}");
        Assert.Empty(await scenario.ReadFeedAsync(ChangeCursor.Start));
        var failures = await scenario.ReadFailuresAsync();
        Assert.Equal(jobs.SelectMany(j => Tasks.Select(t => (j.Uri, t))).Order(), failures.Select(f => (f.Uri, f.Task)).Order());
        Assert.All(failures, f => Assert.Equal("timeout", f.Reason));
        Assert.All(failures, f => Assert.Contains("Worker:MaxBatchDurationMs", f.Message, StringComparison.Ordinal));
    }

    /// <summary>A large one-colour PNG: a few kilobytes on disk, seconds to decode and resize.</summary>
    private static byte[] SolidPng(int width, int height)
    {
        using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.Rgb24>(width, height, new SixLabors.ImageSharp.PixelFormats.Rgb24(90, 140, 200));
        using var stream = new MemoryStream();
        SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, stream);
        return stream.ToArray();
    }

    /// <summary>The first half of a valid PNG: signature and header intact, image data cut off.</summary>
    private static byte[] TruncatedPng(WorkerScenario scenario)
    {
        var (uri, _) = scenario.WriteImage("tmp/whole.png", seed: 99, width: 56, height: 56);
        var bytes = File.ReadAllBytes(uri);
        File.Delete(uri);
        return bytes[..(bytes.Length / 2)];
    }
}

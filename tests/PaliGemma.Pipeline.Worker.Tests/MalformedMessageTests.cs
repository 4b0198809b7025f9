using MassTransit;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>
/// Malformed ImageJob messages sent between good ones, through the real consumer definition: each malformed one faults
/// on its own at once (so it reaches the error queue with its reason), and the good ones in the same send are processed.
/// </summary>
public sealed class MalformedMessageTests(ITestOutputHelper output)
{
    private readonly XunitSink _sink = new(output);

    [Fact]
    public async Task Malformed_jobs_fault_alone_with_their_reason_and_batch_mates_succeed()
    {
        await using var scenario = await WorkerScenario.StartAsync(_sink);
        var runId = Guid.NewGuid();
        var good = Enumerable.Range(0, 4).Select(i => scenario.WriteImage($"good/{i}.png", seed: 40 + i)).ToList();
        var image = scenario.WriteImage("bad-message/target.png", seed: 77);
        var bad = new (ImageJob Job, string Reason)[]
        {
            (scenario.Job(runId, (image.Uri + "#unknown-task", image.ETag), null, "caption"), "Prompt 'caption' is malformed (the language code is missing)"),
            (scenario.Job(runId, (image.Uri + "#empty-prompt", image.ETag), null, ""), "The prompt is empty"),
            (scenario.Job(runId, (image.Uri + "#huge-prompt", image.ETag), null, "answer en " + new string('x', 100 * 1024)), "the limit is 2048"),
            (scenario.Job(runId, (image.Uri + "#control", image.ETag), null, "caption en\u0007"), "control character U+0007"),
            (scenario.Job(runId, image) with { Tasks = [new TaskSpec("caption en", 1_000_000)] }, "MaxNewTokens must be between 1 and 8192, got 1000000"),
            (scenario.Job(runId, image) with { ETag = "" }, "ETag is missing or blank"),
        };
        // Two jobs share the target's URI; faults are matched on URI, ETag and tasks together.
        var jobs = new List<ImageJob>();
        jobs.AddRange(good.Take(2).Select(g => scenario.Job(runId, g)));
        jobs.AddRange(bad.Select(b => b.Job));
        jobs.AddRange(good.Skip(2).Select(g => scenario.Job(runId, g)));

        var started = DateTime.UtcNow;
        await scenario.SendAsync(jobs);
        await scenario.WaitForBatchesAsync(good.Count, TimeSpan.FromSeconds(60));

        // Then every malformed job faulted once on its own (the receive transport moves it to the error queue with the
        // exception in its fault headers), naming its problem, without waiting through the infrastructure retries
        foreach (var (job, reason) in bad)
        {
            Assert.True(await scenario.Harness.Consumed.Any<ImageJob>(c => c.Exception is not null && Same(c.Context.Message, job)),
                $"no fault for the job expected to fail with '{reason}'");
            var faulted = scenario.Harness.Consumed.Select<ImageJob>(c => c.Exception is not null && Same(c.Context.Message, job)).ToList();
            var exception = Assert.IsType<InvalidImageJobException>(Assert.Single(faulted).Exception);
            output.WriteLine(exception.Message.Length > 300 ? exception.Message[..300] + "..." : exception.Message);
            Assert.Contains(reason, exception.Message, StringComparison.Ordinal);
        }

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30), $"took {DateTime.UtcNow - started}");
        Assert.Equal(bad.Length, scenario.Harness.Consumed.Select<ImageJob>(c => c.Exception is not null).Count());

        // And the good jobs sent around them were batched and processed; the malformed ones left no rows at all
        var batches = scenario.Consumer.Consumed.Select<Batch<ImageJob>>().ToList();
        Assert.All(batches, b => Assert.Null(b.Exception));
        Assert.Equal(good.Count, batches.Sum(b => b.Context.Message.Length));
        var feed = await scenario.ReadFeedAsync(ChangeCursor.Start);
        Assert.Equal(good.SelectMany(g => new[] { (g.Uri, "caption en"), (g.Uri, "ocr") }).Order().ToList(), feed.Select(r => (r.Uri, r.Task)).Order().ToList());
        Assert.Empty(await scenario.ReadFailuresAsync());
    }

    private static bool Same(ImageJob a, ImageJob b) =>
        a.Uri == b.Uri && a.ETag == b.ETag && a.Tasks.Count == b.Tasks.Count && a.Tasks.Zip(b.Tasks).All(p => p.First.Prompt == p.Second.Prompt && p.First.MaxNewTokens == p.Second.MaxNewTokens);
}

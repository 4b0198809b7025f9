using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using PaliGemma.Pipeline.Hosting;
using Prometheus;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// The dashboard's metric names are the ones the app really serves on /metrics: record one observation of each kind
/// through <see cref="PipelineMetrics"/> into a private registry and read the exposition text back.
/// </summary>
public sealed class MetricNamesTests
{
    [Fact]
    public async Task PipelineMetrics_exports_every_family_the_dashboard_queries()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var registry = Metrics.NewCustomRegistry();
        using var metrics = new PipelineMetrics(services.GetRequiredService<IMeterFactory>(), registry);
        metrics.ImagesProcessed("m:fp32", "ok", 3);
        metrics.Batch(3, TimeSpan.FromMilliseconds(40));
        metrics.QueueWait(TimeSpan.FromSeconds(1));
        metrics.Stage("vision", TimeSpan.FromMilliseconds(5));
        metrics.Tokens(10);
        metrics.Failures("corrupt", 1);
        metrics.DbWrite(TimeSpan.FromMilliseconds(2));
        metrics.EnqueuedPage(5, 4);

        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        foreach (var family in new[]
                 {
                     "pgpipe_images_processed_total", "pgpipe_batch_size", "pgpipe_queue_wait_seconds", "pgpipe_inference_stage_seconds",
                     "pgpipe_tokens_generated_total", "pgpipe_failures_total", "pgpipe_db_write_seconds", "pgpipe_enqueued_total", "pgpipe_batch_seconds",
                 })
        {
            Assert.Contains($"# TYPE {family} ", text, StringComparison.Ordinal);
        }

        Assert.Contains("pgpipe_images_processed_total{model=\"m:fp32\",status=\"ok\"} 3", text, StringComparison.Ordinal);
        Assert.Contains("pgpipe_failures_total{reason=\"corrupt\"} 1", text, StringComparison.Ordinal);
    }
}

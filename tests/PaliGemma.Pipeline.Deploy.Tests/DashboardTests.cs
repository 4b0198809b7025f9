using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>The Grafana dashboard queries only metrics the app exports (names as Prometheus shows them) and shows each.</summary>
public sealed partial class DashboardTests
{
    /// <summary>Metric families of meter "PaliGemma.Pipeline" (issue 4), with whether each is a histogram.</summary>
    private static readonly Dictionary<string, bool> AppMetrics = new(StringComparer.Ordinal)
    {
        ["pgpipe_images_processed_total"] = false,
        ["pgpipe_batch_size"] = true,
        ["pgpipe_queue_wait_seconds"] = true,
        ["pgpipe_inference_stage_seconds"] = true,
        ["pgpipe_tokens_generated_total"] = false,
        ["pgpipe_failures_total"] = false,
        ["pgpipe_db_write_seconds"] = true,
        ["pgpipe_enqueued_total"] = false,
        ["pgpipe_batch_seconds"] = true,
    };

    /// <summary>Per-queue series of the RabbitMQ Prometheus plugin's detailed endpoint (queue_coarse_metrics).</summary>
    private static readonly HashSet<string> RabbitMqMetrics = new(StringComparer.Ordinal)
    {
        "rabbitmq_detailed_queue_messages_ready",
        "rabbitmq_detailed_queue_messages_unacked",
    };

    [Fact]
    public void Every_query_names_an_exported_series_and_every_app_metric_is_shown()
    {
        var dashboard = JsonNode.Parse(File.ReadAllText(RepositoryFiles.Dashboard))!.AsObject();
        var exprs = dashboard["panels"]!.AsArray()
            .SelectMany(p => p!["targets"]!.AsArray().Select(t => t!["expr"]!.GetValue<string>())).ToList();
        Assert.NotEmpty(exprs);

        var used = new HashSet<string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (var name in exprs.SelectMany(e => SeriesName().Matches(e).Select(m => m.Value)))
        {
            var family = HistogramSuffix().Replace(name, string.Empty);
            if (AppMetrics.TryGetValue(name, out _) || (AppMetrics.TryGetValue(family, out var histogram) && histogram && family != name))
            {
                used.Add(AppMetrics.ContainsKey(name) ? name : family);
            }
            else if (!RabbitMqMetrics.Contains(name))
            {
                unknown.Add(name);
            }
        }

        Assert.True(unknown.Count == 0, "Dashboard queries series the app does not export: " + string.Join(", ", unknown.Distinct()));
        Assert.Equal(AppMetrics.Keys.Order(StringComparer.Ordinal), used.Order(StringComparer.Ordinal));
        // histogram_quantile over a histogram family must use its _bucket series.
        Assert.DoesNotContain(exprs, e => QuantileWithoutBucket().IsMatch(e));
    }

    [Fact]
    public void Compose_prometheus_scrapes_the_workers_and_the_detailed_queue_metrics()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "deploy", "prometheus", "prometheus.yml"));
        Assert.Contains("names: [worker]", text, StringComparison.Ordinal);
        Assert.Contains("/metrics/detailed", text, StringComparison.Ordinal);
        Assert.Contains("queue_coarse_metrics", text, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\b(pgpipe|rabbitmq)_[a-z0-9_]+\b")]
    private static partial Regex SeriesName();

    [GeneratedRegex(@"_(bucket|sum|count)$")]
    private static partial Regex HistogramSuffix();

    [GeneratedRegex(@"histogram_quantile\([^,]+,[^)]*rate\(pgpipe_[a-z_]+(?<!_bucket)\{")]
    private static partial Regex QuantileWithoutBucket();
}

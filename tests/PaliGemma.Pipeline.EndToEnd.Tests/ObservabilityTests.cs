using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// A running worker's /health/ready and /metrics as Kubernetes and Prometheus see them: ready only once the model is
/// loaded, and the pipeline's System.Diagnostics.Metrics instruments exported by prometheus-net with the counts of
/// the work actually done, including work done before the first scrape.
/// </summary>
public sealed partial class ObservabilityTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>
{
    /// <summary>The Prometheus names PipelineMetrics gives its series (what the Grafana dashboard queries).</summary>
    private const string Prefix = "pgpipe_";

    [SkippableFact]
    public async Task A_running_worker_is_ready_after_loading_and_exports_the_pipeline_metrics_with_the_counts_of_its_work()
    {
        await using var run = await PipelineRun.CreateAsync(services, output, "metrics");
        var objects = Enumerable.Range(0, 24).Select(i => (Key: $"m/{i:D2}.png", Content: Images.Png(i + 900))).ToList();
        objects.Add(("m/not-an-image.png", Images.NotAnImage()));
        await run.UploadAsync(objects);
        var listed = await run.ListAsync();

        var port = FreePort();
        var worker = run.StartWorker("worker-metrics", port);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        await WaitReadyAsync(http, worker);
        using (var live = await http.GetAsync("health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }

        // Work starts only now, and /metrics is not read until it is all done: counts recorded before the first scrape must not be lost.
        await run.EnqueueAsync("enqueue");
        await run.WaitForAsync("50 combinations done", s => s.Covered(listed) == 50, TimeSpan.FromSeconds(90), s => $"{s.Covered(listed)}/50 covered");
        Assert.False(worker.HasExited, "the worker must still be running while it is scraped");

        var text = await http.GetStringAsync("metrics");
        var samples = Parse(text);
        output.WriteLine("pipeline samples exported (histogram buckets omitted):\n" + string.Join('\n',
            text.Split('\n').Where(l => l.StartsWith(Prefix, StringComparison.Ordinal) && !l.Contains("_bucket", StringComparison.Ordinal))));

        Assert.Equal(24, Value(samples, "images_processed_total", ("status", "ok"), ("model", "tiny:fp32")));
        Assert.Equal(1, Value(samples, "images_processed_total", ("status", "failed"), ("model", "tiny:fp32")));
        Assert.Equal(2, Value(samples, "failures_total", ("reason", "not_an_image")));
        Assert.True(Value(samples, "tokens_generated_total") > 0);
        // Histograms: one observation per batch (per stage per batch for the stage histogram); how many batches 25 jobs
        // make depends on timing, but every histogram must agree on it.
        var batches = Value(samples, "batch_size_count");
        Assert.InRange(batches, 4, 25);
        Assert.Equal(25, Value(samples, "batch_size_sum"));
        Assert.Equal(batches, Value(samples, "batch_seconds_count"));
        Assert.True(Value(samples, "batch_seconds_sum") > 0);
        Assert.Equal(batches, Value(samples, "db_write_seconds_count"));
        Assert.Equal(25, Value(samples, "queue_wait_seconds_count"));
        foreach (var stage in new[] { "vision", "prefill", "decode" })
        {
            Assert.True(Value(samples, "inference_stage_seconds_count", ("stage", stage)) > 0, $"no {stage} stage observations");
        }

        Assert.Contains(samples, s => s.Name == Prefix + "batch_seconds_bucket" && s.Labels.TryGetValue("le", out var le) && le == "+Inf");
    }

    private async Task WaitReadyAsync(HttpClient http, PgpipeProcess worker)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(worker.HasExited, $"the worker exited with {(worker.HasExited ? worker.ExitCode : 0)} before it was ready:\n{worker.Log}");
            try
            {
                using var response = await http.GetAsync("health/ready");
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Assert.Contains("Model tiny:fp32 loaded", worker.Log, StringComparison.Ordinal);
                    output.WriteLine($"/health/ready: {last}");
                    return;
                }
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"/health/ready did not return 200 within 60 s (last: {last}):\n{worker.Log}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static double Value(List<Sample> samples, string series, params (string Key, string Value)[] labels)
    {
        var name = Prefix + series;
        var matching = samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
        Assert.True(matching.Count > 0,
            $"no sample {name}{{{string.Join(',', labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}}; pgpipe samples: {string.Join("; ", samples.Where(s => s.Name.Contains("pgpipe", StringComparison.Ordinal)).Select(s => s.Name + "{" + string.Join(',', s.Labels.Select(kv => kv.Key + "=" + kv.Value)) + "}").Take(40))}");
        return matching.Sum(s => s.Value);
    }

    private static List<Sample> Parse(string exposition)
    {
        var samples = new List<Sample>();
        foreach (var line in exposition.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"unparseable exposition line: {line}");
            var labels = LabelPair().Matches(m.Groups[2].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
            samples.Add(new Sample(m.Groups[1].Value, labels, double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)));
        }

        return samples;
    }

    private sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex LabelPair();
}

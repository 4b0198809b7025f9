using System.Diagnostics;
using System.Diagnostics.Metrics;
using Prom = Prometheus;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// The pipeline's metrics and traces. Every observation goes to two places: a System.Diagnostics.Metrics instrument
/// (meter <see cref="Name"/>, exported over OTLP when configured) and a prometheus-net metric served on /metrics under
/// the names the Grafana dashboard and the chart's docs use (pgpipe_images_processed_total, pgpipe_batch_seconds, ...).
/// </summary>
/// <remarks>
/// prometheus-net's own meter adapter would export the meter too, but its names are fixed ("{meter}_{instrument}",
/// counters without _total, no unit suffix) and its series start only at the first scrape; hosts therefore
/// suppress it and these explicitly named metrics are the Prometheus surface.
/// </remarks>
public sealed class PipelineMetrics : IDisposable
{
    /// <summary>Meter and ActivitySource name.</summary>
    public const string Name = "PaliGemma.Pipeline";

    /// <summary>Traces of batches, stages and enqueue pages.</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
    private static readonly double[] SizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly Meter _meter;
    private readonly Counter<long> _images;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _batchSeconds;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _stage;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _failures;
    private readonly Histogram<double> _dbWrite;
    private readonly Counter<long> _enqueued;
    private readonly Counter<long> _listed;
    private readonly Prom.Counter _promImages;
    private readonly Prom.Histogram _promBatchSize;
    private readonly Prom.Histogram _promBatchSeconds;
    private readonly Prom.Histogram _promQueueWait;
    private readonly Prom.Histogram _promStage;
    private readonly Prom.Counter _promTokens;
    private readonly Prom.Counter _promFailures;
    private readonly Prom.Histogram _promDbWrite;
    private readonly Prom.Counter _promEnqueued;
    private readonly Prom.Counter _promListed;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/> and on the default Prometheus registry.</summary>
    public PipelineMetrics(IMeterFactory meterFactory)
        : this(meterFactory, Prom.Metrics.DefaultRegistry)
    {
    }

    /// <summary>Creates the instruments, with the Prometheus metrics in <paramref name="registry"/> (tests use their own).</summary>
    public PipelineMetrics(IMeterFactory meterFactory, Prom.CollectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(Name);
        _images = _meter.CreateCounter<long>("pgpipe.images.processed", description: "Images finished by workers, by status (ok or failed).");
        _batchSize = _meter.CreateHistogram<int>("pgpipe.batch.size", description: "Images per consumed batch.");
        _batchSeconds = _meter.CreateHistogram<double>("pgpipe.batch.duration", unit: "s", description: "Wall time of a consumed batch, fetch to commit.");
        _queueWait = _meter.CreateHistogram<double>("pgpipe.queue.wait", unit: "s", description: "Time from enqueue to the start of its batch.");
        _stage = _meter.CreateHistogram<double>("pgpipe.inference.stage", unit: "s", description: "Inference time per batch by stage (vision, prefill, decode).");
        _tokens = _meter.CreateCounter<long>("pgpipe.tokens.generated", description: "Tokens generated.");
        _failures = _meter.CreateCounter<long>("pgpipe.failures", description: "Failed (image, task) combinations by reason.");
        _dbWrite = _meter.CreateHistogram<double>("pgpipe.db.write", unit: "s", description: "Time to persist one batch.");
        _enqueued = _meter.CreateCounter<long>("pgpipe.enqueued", description: "Jobs published by the producer.");
        _listed = _meter.CreateCounter<long>("pgpipe.listed", description: "Objects listed by the producer.");

        var f = Prom.Metrics.WithCustomRegistry(registry);
        _promImages = f.CreateCounter("pgpipe_images_processed_total", "Images finished by workers, by status (ok or failed).", "model", "status");
        _promBatchSize = f.CreateHistogram("pgpipe_batch_size", "Images per consumed batch.", new Prom.HistogramConfiguration { Buckets = SizeBuckets });
        _promBatchSeconds = f.CreateHistogram("pgpipe_batch_seconds", "Wall time of a consumed batch, fetch to commit.", new Prom.HistogramConfiguration { Buckets = SecondsBuckets });
        _promQueueWait = f.CreateHistogram("pgpipe_queue_wait_seconds", "Time from enqueue to the start of its batch.", new Prom.HistogramConfiguration { Buckets = SecondsBuckets });
        _promStage = f.CreateHistogram("pgpipe_inference_stage_seconds", "Inference time per batch by stage.", new Prom.HistogramConfiguration { Buckets = SecondsBuckets, LabelNames = ["stage"] });
        _promTokens = f.CreateCounter("pgpipe_tokens_generated_total", "Tokens generated.");
        _promFailures = f.CreateCounter("pgpipe_failures_total", "Failed (image, task) combinations by reason.", "reason");
        _promDbWrite = f.CreateHistogram("pgpipe_db_write_seconds", "Time to persist one batch.", new Prom.HistogramConfiguration { Buckets = SecondsBuckets });
        _promEnqueued = f.CreateCounter("pgpipe_enqueued_total", "Jobs published by the producer.");
        _promListed = f.CreateCounter("pgpipe_listed_total", "Objects listed by the producer.");
    }

    /// <summary>Images finished in a batch with <paramref name="status"/> ok or failed.</summary>
    public void ImagesProcessed(string model, string status, long count)
    {
        _images.Add(count, new KeyValuePair<string, object?>("model", model), new KeyValuePair<string, object?>("status", status));
        _promImages.WithLabels(model, status).Inc(count);
    }

    /// <summary>One consumed batch: its size and wall time.</summary>
    public void Batch(int size, TimeSpan elapsed)
    {
        _batchSize.Record(size);
        _batchSeconds.Record(elapsed.TotalSeconds);
        _promBatchSize.Observe(size);
        _promBatchSeconds.Observe(elapsed.TotalSeconds);
    }

    /// <summary>Time one job waited in the queue.</summary>
    public void QueueWait(TimeSpan wait)
    {
        var seconds = Math.Max(0, wait.TotalSeconds);
        _queueWait.Record(seconds);
        _promQueueWait.Observe(seconds);
    }

    /// <summary>Inference time of one batch in a stage (vision, prefill or decode).</summary>
    public void Stage(string stage, TimeSpan elapsed)
    {
        _stage.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("stage", stage));
        _promStage.WithLabels(stage).Observe(elapsed.TotalSeconds);
    }

    /// <summary>Tokens generated.</summary>
    public void Tokens(long count)
    {
        _tokens.Add(count);
        _promTokens.Inc(count);
    }

    /// <summary>Failed combinations with a reason code.</summary>
    public void Failures(string reason, long count)
    {
        _failures.Add(count, new KeyValuePair<string, object?>("reason", reason));
        _promFailures.WithLabels(reason).Inc(count);
    }

    /// <summary>Time to persist one batch.</summary>
    public void DbWrite(TimeSpan elapsed)
    {
        _dbWrite.Record(elapsed.TotalSeconds);
        _promDbWrite.Observe(elapsed.TotalSeconds);
    }

    /// <summary>One listed page: objects listed and jobs published.</summary>
    public void EnqueuedPage(long listed, long enqueued)
    {
        _listed.Add(listed);
        _enqueued.Add(enqueued);
        _promListed.Inc(listed);
        _promEnqueued.Inc(enqueued);
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}

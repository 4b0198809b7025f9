using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// The pipeline's metrics and traces, on System.Diagnostics.Metrics and ActivitySource so any exporter (the
/// Prometheus endpoint, OTLP) can read them. Instrument names map to Prometheus series such as
/// pgpipe_images_processed_total.
/// </summary>
public sealed class PipelineMetrics : IDisposable
{
    /// <summary>Meter and ActivitySource name.</summary>
    public const string Name = "PaliGemma.Pipeline";

    /// <summary>Traces of batches, stages and enqueue pages.</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    public PipelineMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(Name);
        ImagesProcessed = _meter.CreateCounter<long>("pgpipe.images.processed", description: "Images finished by workers, by status (ok or failed).");
        BatchSize = _meter.CreateHistogram<int>("pgpipe.batch.size", description: "Images per consumed batch.");
        BatchSeconds = _meter.CreateHistogram<double>("pgpipe.batch.duration", unit: "s", description: "Wall time of a consumed batch, fetch to commit.");
        QueueWaitSeconds = _meter.CreateHistogram<double>("pgpipe.queue.wait", unit: "s", description: "Time from enqueue to the start of its batch.");
        StageSeconds = _meter.CreateHistogram<double>("pgpipe.inference.stage", unit: "s", description: "Inference time per batch by stage (vision, prefill, decode).");
        TokensGenerated = _meter.CreateCounter<long>("pgpipe.tokens.generated", description: "Tokens generated.");
        Failures = _meter.CreateCounter<long>("pgpipe.failures", description: "Failed (image, task) combinations by reason.");
        DbWriteSeconds = _meter.CreateHistogram<double>("pgpipe.db.write", unit: "s", description: "Time to persist one batch.");
        Enqueued = _meter.CreateCounter<long>("pgpipe.enqueued", description: "Jobs published by the producer.");
        Listed = _meter.CreateCounter<long>("pgpipe.listed", description: "Objects listed by the producer.");
    }

    /// <summary>Images finished, tagged status=ok|failed and model.</summary>
    public Counter<long> ImagesProcessed { get; }

    /// <summary>Images per batch.</summary>
    public Histogram<int> BatchSize { get; }

    /// <summary>Batch wall time.</summary>
    public Histogram<double> BatchSeconds { get; }

    /// <summary>Queue wait per image.</summary>
    public Histogram<double> QueueWaitSeconds { get; }

    /// <summary>Inference seconds per stage, tagged stage=vision|prefill|decode.</summary>
    public Histogram<double> StageSeconds { get; }

    /// <summary>Generated tokens.</summary>
    public Counter<long> TokensGenerated { get; }

    /// <summary>Failures, tagged reason.</summary>
    public Counter<long> Failures { get; }

    /// <summary>Batch persistence time.</summary>
    public Histogram<double> DbWriteSeconds { get; }

    /// <summary>Jobs published.</summary>
    public Counter<long> Enqueued { get; }

    /// <summary>Objects listed.</summary>
    public Counter<long> Listed { get; }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}

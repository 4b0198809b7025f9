using System.ComponentModel.DataAnnotations;

namespace PaliGemma.Pipeline.Worker;

/// <summary>Worker settings, bound from the "Worker" section.</summary>
public sealed class WorkerOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Worker";

    /// <summary>The model this worker serves: a model folder, or an id resolved under <see cref="ModelsDirectory"/>.</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "Worker:Model is required (a model folder or an id under Worker:ModelsDirectory).")]
    public string Model { get; set; } = string.Empty;

    /// <summary>Folder holding model folders by id (e.g. a mounted volume /models).</summary>
    public string? ModelsDirectory { get; set; }

    /// <summary>Images per consumed batch (MassTransit MessageLimit); also the model's row batch size.</summary>
    [Range(1, 256)]
    public int BatchSize { get; set; } = 8;

    /// <summary>How long a partial batch waits for more messages before it runs (MassTransit TimeLimit).</summary>
    [Range(1, 60_000)]
    public int BatchTimeLimitMs { get; set; } = 200;

    /// <summary>
    /// Batches in flight at once. Two lets the next batch fetch and decode while the current one runs on the model.
    /// </summary>
    [Range(1, 8)]
    public int ConcurrencyLimit { get; set; } = 2;

    /// <summary>Broker prefetch; 0 means 2 x BatchSize x ConcurrencyLimit.</summary>
    [Range(0, 65_535)]
    public int PrefetchCount { get; set; }

    /// <summary>Parallel image downloads and decodes per batch; 0 means one per core.</summary>
    [Range(0, 1024)]
    public int DecodeParallelism { get; set; }

    /// <summary>Largest object the worker will download, in bytes.</summary>
    [Range(1, long.MaxValue)]
    public long MaxImageBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Largest decoded image, in pixels; bigger images fail as too_large before decoding.</summary>
    [Range(1, long.MaxValue)]
    public long MaxImagePixels { get; set; } = 64_000_000;

    /// <summary>
    /// Longest a batch may run. Past it the batch is cancelled and each of its pending combinations is recorded as a
    /// <c>timeout</c> failure, which the next pass retries. Also how long a stopping worker waits for its batch. Must
    /// stay well inside Messaging:ConsumerTimeoutMs together with Worker:Retry.
    /// </summary>
    [Range(1_000, int.MaxValue)]
    public int MaxBatchDurationMs { get; set; } = 600_000;

    /// <summary>
    /// Folder under which jobs may name local files (a shared volume, or the embedded run's source). Empty refuses
    /// local paths, so a crafted message cannot make a worker read arbitrary files.
    /// </summary>
    public string? LocalRoot { get; set; }

    /// <summary>
    /// Folder for the local copies of documents (PDF, multi-page TIFF) whose pages this worker renders; empty means a
    /// folder of its own under the system's temporary folder, removed when the worker stops.
    /// </summary>
    public string? DocumentCacheFolder { get; set; }

    /// <summary>
    /// Bytes of document copies kept on disk. Pages of one document reach a worker in many batches; keeping the copy
    /// means each worker fetches a document once, not once per batch. Least recently used copies go first.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long DocumentCacheBytes { get; set; } = 8L << 30;

    /// <summary>Prefetch actually requested from the broker.</summary>
    public int EffectivePrefetch => PrefetchCount > 0 ? PrefetchCount : 2 * BatchSize * ConcurrencyLimit;
}

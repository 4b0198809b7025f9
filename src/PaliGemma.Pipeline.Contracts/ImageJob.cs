namespace PaliGemma.Pipeline.Contracts;

/// <summary>
/// One image to process: published once per image by the producer onto its model's queue, consumed in batches by
/// workers that serve that model. Everything a worker needs travels in the message, so workers never read run state.
/// </summary>
public sealed record ImageJob
{
    /// <summary>The run that enqueued the image.</summary>
    public required Guid RunId { get; init; }

    /// <summary>The object URI exactly as listed: <c>s3://bucket/key</c> or an absolute local path.</summary>
    public required string Uri { get; init; }

    /// <summary>S3 ETag, or the content hash of a local file; the worker refuses an object whose ETag changed since listing.</summary>
    public required string ETag { get; init; }

    /// <summary>Object size in bytes at listing time.</summary>
    public required long Size { get; init; }

    /// <summary>The model key (<c>id:dtype</c>) that must process the image; also selects the queue.</summary>
    public required string Model { get; init; }

    /// <summary>The tasks to run on this image; their vision features are computed once and shared.</summary>
    public required IReadOnlyList<TaskSpec> Tasks { get; init; }

    /// <summary>When the producer published the job (for queue-wait metrics).</summary>
    public DateTimeOffset EnqueuedAt { get; init; }
}

/// <summary>A task prompt (e.g. "caption en") and its token limit.</summary>
/// <param name="Prompt">The task prompt as typed.</param>
/// <param name="MaxNewTokens">Generation limit for this task, 1..<see cref="MaxNewTokensLimit"/>.</param>
public sealed record TaskSpec(string Prompt, int MaxNewTokens)
{
    /// <summary>
    /// Largest <see cref="MaxNewTokens"/> any producer may ask for: PaliGemma 2's whole context (max_position_embeddings
    /// 8192). No model of the family can generate more, so a bigger value is a bug, not a request; workers refuse it
    /// before batching. The model-specific bound (prompt + image tokens + new tokens within the positions) is checked per
    /// image by the worker.
    /// </summary>
    public const int MaxNewTokensLimit = 8192;
}

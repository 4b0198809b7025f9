using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Generation;

/// <summary>One (image, task) row to generate.</summary>
/// <param name="ImageIndex">Index into the image list passed to <see cref="PaliGemmaModel.Generate"/>.</param>
/// <param name="Task">The parsed task; its prompt is what the model sees.</param>
/// <param name="MaxNewTokens">Overrides the task's default limit when set.</param>
public sealed record GenerationRequest(int ImageIndex, PaliGemmaTask Task, int? MaxNewTokens = null);

/// <summary>What one row produced.</summary>
public sealed record GenerationOutput
{
    /// <summary>Generated ids, excluding the prompt, including a final eos when one was produced.</summary>
    public required int[] TokenIds { get; init; }

    /// <summary>Generated text decoded with special tokens skipped (loc/seg tokens stay, as Hugging Face decodes them).</summary>
    public required string Text { get; init; }

    /// <summary>Boxes in original-image pixels for detect/segment tasks; empty otherwise.</summary>
    public required IReadOnlyList<DetectedObject> Boxes { get; init; }

    /// <summary>Whole prefix length: image tokens, bos, prompt and the trailing newline.</summary>
    public required int PromptTokens { get; init; }

    /// <summary>Number of generated tokens (including a final eos).</summary>
    public int GeneratedTokens => TokenIds.Length;

    /// <summary>True when generation ended on an eos token rather than the token limit.</summary>
    public required bool StoppedOnEos { get; init; }

    /// <summary>The row's share of its batch's wall time, including its image's share of the vision encoder.</summary>
    public required double Milliseconds { get; init; }

    /// <summary>
    /// Entries of a detect/segment answer that were malformed and dropped (listed, never guessed); empty otherwise.
    /// </summary>
    public IReadOnlyList<RejectedEntry> RejectedObjects { get; init; } = [];

    /// <summary>A note for the user: that segmentation masks need the mask decoder, or which objects were malformed.</summary>
    public string? Note { get; init; }

    /// <summary>Smallest top-1 minus top-2 logit gap over the row's steps, when margin tracking is on.</summary>
    public float? MinTopMargin { get; init; }
}

/// <summary>Timing counters: of one Generate call (<see cref="GenerationResult.Statistics"/>) or cumulative since load (<see cref="PaliGemmaModel.Statistics"/>).</summary>
public sealed class GenerationStatistics
{
    /// <summary>Time inside the vision encoder's Run calls.</summary>
    public TimeSpan Vision { get; internal set; }

    /// <summary>Time inside the embed_tokens Run calls (and the prefill merge of image features).</summary>
    public TimeSpan Embed { get; internal set; }

    /// <summary>Time inside prefill decoder Run calls.</summary>
    public TimeSpan Prefill { get; internal set; }

    /// <summary>Time inside one-token decoder Run calls.</summary>
    public TimeSpan Decode { get; internal set; }

    /// <summary>Wall time of <see cref="PaliGemmaModel.Generate"/> calls.</summary>
    public TimeSpan Wall { get; internal set; }

    /// <summary>Rows generated.</summary>
    public long Rows { get; internal set; }

    /// <summary>Images run through the vision encoder.</summary>
    public long Images { get; internal set; }

    /// <summary>Tokens generated.</summary>
    public long GeneratedTokens { get; internal set; }

    /// <summary>Decoder batches run.</summary>
    public long Batches { get; internal set; }

    /// <summary>Total time inside ONNX Runtime Run calls.</summary>
    public TimeSpan OrtTotal => Vision + Embed + Prefill + Decode;

    /// <summary>Copies the counters.</summary>
    public GenerationStatistics Snapshot() => (GenerationStatistics)MemberwiseClone();

    internal void Add(GenerationStatistics other)
    {
        Vision += other.Vision;
        Embed += other.Embed;
        Prefill += other.Prefill;
        Decode += other.Decode;
        Wall += other.Wall;
        Rows += other.Rows;
        Images += other.Images;
        GeneratedTokens += other.GeneratedTokens;
        Batches += other.Batches;
    }
}

/// <summary>
/// What one <see cref="PaliGemmaModel.Generate"/> call returns: the outputs in request order (the result is that
/// list), and the call's own statistics, which two concurrent callers never mix.
/// </summary>
public sealed class GenerationResult : IReadOnlyList<GenerationOutput>
{
    private readonly IReadOnlyList<GenerationOutput> _outputs;

    internal GenerationResult(IReadOnlyList<GenerationOutput> outputs, GenerationStatistics statistics, TransferStatistics transfers)
    {
        _outputs = outputs;
        Statistics = statistics;
        Transfers = transfers;
    }

    /// <summary>Timings and counts of this call only.</summary>
    public GenerationStatistics Statistics { get; }

    /// <summary>Bytes that crossed between host memory and the execution provider in this call, per phase and step.</summary>
    public TransferStatistics Transfers { get; }

    /// <inheritdoc />
    public int Count => _outputs.Count;

    /// <inheritdoc />
    public GenerationOutput this[int index] => _outputs[index];

    /// <inheritdoc />
    public IEnumerator<GenerationOutput> GetEnumerator() => _outputs.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

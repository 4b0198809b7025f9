using Microsoft.ML.OnnxRuntime;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Generation;

/// <summary>What one Generate call shares between its batches: run options (cancellation), counters and statistics.</summary>
internal sealed class GenerationCall(RunOptions runOptions, GenerationStatistics statistics, TransferStatistics transfers)
{
    public RunOptions RunOptions { get; } = runOptions;

    public GenerationStatistics Statistics { get; } = statistics;

    public TransferCounter Counter { get; } = new(transfers);
}

/// <summary>One (image, task) row being generated.</summary>
internal sealed class GenerationRow(int index, int imageIndex, PaliGemmaTask task, int[] prefix, int maxNewTokens)
{
    public int Index { get; } = index;
    public int ImageIndex { get; } = imageIndex;
    public PaliGemmaTask Task { get; } = task;
    public int[] Prefix { get; } = prefix;
    public int MaxNewTokens { get; } = maxNewTokens;
    public List<int> Generated { get; } = new(Math.Min(maxNewTokens, 256));
    public bool StoppedOnEos { get; set; }
    public float MinMargin { get; set; } = float.PositiveInfinity;
    public double Milliseconds { get; set; }
}

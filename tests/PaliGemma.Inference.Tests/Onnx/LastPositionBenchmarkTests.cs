using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using PaliGemma.Inference.Onnx;
using Xunit.Abstractions;
using static PaliGemma.Inference.Tests.Onnx.OnnxTestSupport;

namespace PaliGemma.Inference.Tests.Onnx;

/// <summary>
/// Times ORT Run on a prefill-sized decoder tail (S=512, D=256, V=33000) before and after the rewrite. Run with
/// <c>--logger "console;verbosity=detailed"</c> to see the numbers.
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class LastPositionBenchmarkTests(ITestOutputHelper output)
{
    private const int Seq = 512;
    private const int Hidden = 256;
    private const int Vocab = 33000;
    private const int Repeats = 5;

    [Fact]
    public void Prefill_with_the_rewrite_is_faster_and_gives_the_same_last_row()
    {
        // Given the synthetic tail and its rewrite, with single-threaded sessions so the shared machine's load
        // affects both runs alike
        var original = SyntheticDecoderTail.Build(Hidden, Vocab, seed: 11);
        var result = DecoderGraphRewriter.TrySliceLastPosition(original);
        Assert.True(result.Rewritten, result.Description);
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var originalSession = new InferenceSession(original, options);
        using var rewrittenSession = new InferenceSession(result.Model!, options);
        var input = RandomNormal(Seq * Hidden, seed: 12);
        long[] shape = [1, Seq, Hidden];

        // When each runs once to warm up and then Repeats times
        var expected = Run(originalSession, "inputs_embeds", input, shape);
        var actual = Run(rewrittenSession, "inputs_embeds", input, shape);
        var originalMs = MedianMs(() => RunOnly(originalSession, input, shape));
        var rewrittenMs = MedianMs(() => RunOnly(rewrittenSession, input, shape));

        // Then the last row matches and the rewritten graph is faster
        var diff = MaxAbsDiff(LastPosition(expected["logits"]), actual["logits"].Data);
        output.WriteLine(
            $"S={Seq} D={Hidden} V={Vocab} (MLP block + head): original {originalMs:F1} ms, rewritten {rewrittenMs:F1} ms, " +
            $"ratio {originalMs / rewrittenMs:F1}x, max |diff| of last row {diff:G3}");
        Assert.Equal([1, 1, Vocab], actual["logits"].Shape);
        Assert.True(diff < 1e-4f, $"max |diff| {diff}");
        Assert.True(rewrittenMs < originalMs, $"rewritten {rewrittenMs} ms vs original {originalMs} ms");
    }

    // Times ORT Run alone: outputs stay in native memory and are released, no managed copy.
    private static void RunOnly(InferenceSession session, float[] input, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["inputs_embeds"], [value], session.OutputNames);
    }

    private static double MedianMs(Action run)
    {
        var times = new double[Repeats];
        for (var i = 0; i < Repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }

        Array.Sort(times);
        return times[Repeats / 2];
    }
}

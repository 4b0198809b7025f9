using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using PaliGemma.Inference.Onnx;
using static PaliGemma.Inference.Tests.Onnx.OnnxTestSupport;

namespace PaliGemma.Inference.Tests.Onnx;

/// <summary>The greedy head appended to the fixture decoders returns exactly what the host would compute from the logits.</summary>
public sealed class GreedyHeadTests
{
    [Theory]
    [InlineData("tiny", 0L)]
    [InlineData("tiny-masked", 0L)]
    [InlineData("tiny-masked", 1L)]
    public void Greedy_head_returns_the_argmax_margin_and_next_state_of_the_original_logits(string modelName, long keep)
    {
        var folder = Path.Combine(FixtureFolder, "..", "models", modelName);
        var original = File.ReadAllBytes(Path.Combine(folder, "onnx", "decoder_model_merged.onnx"));
        var result = DecoderGraphRewriter.TryAddGreedyHead(original, trackMargin: true);
        Assert.True(result.Rewritten, result.Description);

        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "config.json")));
        var text = config.RootElement.GetProperty("text_config");
        int d = text.GetProperty("hidden_size").GetInt32(), layers = text.GetProperty("num_hidden_layers").GetInt32();
        int kvHeads = text.GetProperty("num_key_value_heads").GetInt32(), headDim = text.GetProperty("head_dim").GetInt32();
        const int b = 3, s = 5, p = 2;
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            inputs["inputs_embeds"] = OrtValue.CreateTensorValueFromMemory(RandomNormal(b * s * d, seed: 3), [b, s, d]);
            inputs["position_ids"] = OrtValue.CreateTensorValueFromMemory(new long[] { 3, 4, 5, 6, 7, 1, 1, 1, 2, 3, 8, 9, 10, 11, 12 }, [b, s]);
            for (var i = 0; i < layers; i++)
            {
                inputs[$"past_key_values.{i}.key"] = OrtValue.CreateTensorValueFromMemory(RandomNormal(b * kvHeads * p * headDim, seed: 10 + i), [b, kvHeads, p, headDim]);
                inputs[$"past_key_values.{i}.value"] = OrtValue.CreateTensorValueFromMemory(RandomNormal(b * kvHeads * p * headDim, seed: 50 + i), [b, kvHeads, p, headDim]);
            }

            using var plain = new InferenceSession(original);
            if (plain.InputMetadata.ContainsKey("attention_mask"))
            {
                var mask = Enumerable.Repeat(1L, b * (p + s)).ToArray();
                mask[(1 * (p + s)) + 2] = 0; // a left-padded row
                mask[(1 * (p + s)) + 3] = 0;
                inputs["attention_mask"] = OrtValue.CreateTensorValueFromMemory(mask, [b, p + s]);
                inputs["num_logits_to_keep"] = OrtValue.CreateTensorValueFromMemory(new[] { keep }, []);
            }

            using var extended = new InferenceSession(result.Model!);
            using var runOptions = new RunOptions();
            var names = plain.InputMetadata.Keys.ToArray();
            using var expected = plain.Run(runOptions, names, names.Select(n => inputs[n]).ToArray(), ["logits"]);
            string[] outputs = ["logits", DecoderGraphRewriter.NextToken, DecoderGraphRewriter.NextTokenHost, DecoderGraphRewriter.TopMargin, GenerationGraphs.NextPositionIds];
            using var actual = extended.Run(runOptions, names, names.Select(n => inputs[n]).ToArray(), outputs);

            var logits = expected[0].GetTensorDataAsSpan<float>().ToArray();
            var shape = expected[0].GetTensorTypeAndShape().Shape;
            Assert.Equal(logits, actual[0].GetTensorDataAsSpan<float>().ToArray());
            var (steps, vocab) = ((int)shape[1], (int)shape[2]);
            var positions = inputs["position_ids"].GetTensorDataAsSpan<long>().ToArray();
            for (var r = 0; r < b; r++)
            {
                var row = logits.AsSpan(((r * steps) + steps - 1) * vocab, vocab).ToArray();
                var best = Array.IndexOf(row, row.Max());
                var sorted = row.OrderDescending().ToArray();
                Assert.Equal(best, actual[1].GetTensorDataAsSpan<long>()[r]);
                Assert.Equal(best, actual[2].GetTensorDataAsSpan<long>()[r]);
                Assert.Equal(sorted[0] - sorted[1], actual[3].GetTensorDataAsSpan<float>()[r]);
                Assert.Equal(positions[(r * s) + s - 1] + 1, actual[4].GetTensorDataAsSpan<long>()[r]);
            }

            Assert.Equal([b, 1], actual[1].GetTensorTypeAndShape().Shape);
            if (inputs.TryGetValue("attention_mask", out var maskValue))
            {
                using var grown = extended.Run(runOptions, names, names.Select(n => inputs[n]).ToArray(), [GenerationGraphs.NextAttentionMask]);
                var before = maskValue.GetTensorDataAsSpan<long>().ToArray();
                var after = grown[0].GetTensorDataAsSpan<long>().ToArray();
                Assert.Equal([b, p + s + 1], grown[0].GetTensorTypeAndShape().Shape);
                for (var r = 0; r < b; r++)
                {
                    Assert.Equal(before.AsSpan(r * (p + s), p + s).ToArray(), after.AsSpan(r * (p + s + 1), p + s).ToArray());
                    Assert.Equal(1, after[(r * (p + s + 1)) + p + s]);
                }
            }
        }
        finally
        {
            foreach (var v in inputs.Values)
            {
                v.Dispose();
            }
        }
    }

    [Fact]
    public void Graphs_without_position_ids_or_with_an_old_opset_are_left_alone_with_a_reason()
    {
        var noPositions = DecoderGraphRewriter.TryAddGreedyHead(File.ReadAllBytes(Fixture("matmul_softcap.onnx")), trackMargin: false);
        Assert.False(noPositions.Rewritten);
        Assert.Contains("position_ids", noPositions.Description, StringComparison.Ordinal);

        var garbage = DecoderGraphRewriter.TryAddGreedyHead([0x0A, 0xFF, 0x01], trackMargin: false);
        Assert.False(garbage.Rewritten);
        Assert.Contains("Not a ModelProto", garbage.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void The_merge_graph_places_each_rows_image_features_at_its_image_tokens_and_counts_positions_from_its_first_real_token()
    {
        // Two rows, width 6: row 0 has prefix 6 (no padding), row 1 prefix 4 (two pads); 2 image tokens each; D = 3.
        const int n = 2, d = 3, width = 6;
        using var session = new InferenceSession(GenerationGraphs.Merge(n, d, OnnxType.Float, OnnxType.Float, OnnxType.Float, withMask: true));
        var raw = Enumerable.Range(0, 2 * width * d).Select(i => (float)i).ToArray();
        var features = Enumerable.Range(0, 3 * n * d).Select(i => 1000f + i).ToArray(); // three images
        using var rawValue = OrtValue.CreateTensorValueFromMemory(raw, [2, width, d]);
        using var featureValue = OrtValue.CreateTensorValueFromMemory(features, [3, n, d]);
        using var rowImage = OrtValue.CreateTensorValueFromMemory(new long[] { 2, 0 }, [2]);
        using var prefix = OrtValue.CreateTensorValueFromMemory(new long[] { 6, 4 }, [2]);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [GenerationGraphs.RawEmbeds, GenerationGraphs.ImageFeatures, GenerationGraphs.RowImage, GenerationGraphs.PrefixLength],
            [rawValue, featureValue, rowImage, prefix], [GenerationGraphs.InputsEmbeds, GenerationGraphs.PositionIds, GenerationGraphs.AttentionMask]);

        var embeds = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        float[] Vec(float[] a, int at) => a.AsSpan(at * d, d).ToArray();
        Assert.Equal(Vec(features, 4), Vec(embeds, 0));   // row 0, image 2, feature 0
        Assert.Equal(Vec(features, 5), Vec(embeds, 1));   // row 0, image 2, feature 1
        Assert.Equal(Vec(raw, 2), Vec(embeds, 2));        // row 0, first text token
        Assert.Equal(Vec(raw, width), Vec(embeds, width)); // row 1, padding keeps its embedding
        Assert.Equal(Vec(features, 0), Vec(embeds, width + 2)); // row 1, image 0, feature 0
        Assert.Equal(Vec(features, 1), Vec(embeds, width + 3));
        Assert.Equal(Vec(raw, width + 4), Vec(embeds, width + 4));
        Assert.Equal([1L, 2, 3, 4, 5, 6, 1, 1, 1, 2, 3, 4], outputs[1].GetTensorDataAsSpan<long>().ToArray());
        Assert.Equal([1L, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1], outputs[2].GetTensorDataAsSpan<long>().ToArray());
    }
}

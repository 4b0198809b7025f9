using System.Text.Json;
using PaliGemma.Inference.Masks;
using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>
/// The worker with Inference:MaskDecoderPath set: the model host loads the decoder with the model and segment results
/// are stored through the batch path; every stored segment box carries a full-image mask of its image's size.
/// </summary>
public sealed class SegmentWorkerTests(ITestOutputHelper output)
{
    private readonly XunitSink _sink = new(output);

    [Fact]
    public async Task Configured_mask_decoder_is_loaded_and_segment_results_store_masks_for_every_box()
    {
        var decoderPath = Path.Combine(Path.GetDirectoryName(Fixtures.TinyModel)!, "..", "vae", "vae_decoder.onnx");
        await using var scenario = await WorkerScenario.StartAsync(_sink, new Dictionary<string, string?> { ["Inference:MaskDecoderPath"] = decoderPath });
        var runId = Guid.NewGuid();
        var images = Enumerable.Range(0, 4).Select(i => scenario.WriteImage($"seg/{i}.png", seed: 20 + i)).ToList();

        await scenario.SendAsync(images.Select(g => scenario.Job(runId, g, null, "segment cat", "detect cat")));
        var batches = await scenario.WaitForBatchesAsync(images.Count, TimeSpan.FromSeconds(60));

        Assert.All(batches, b => Assert.Null(b.Exception));
        var decoder = Assert.IsType<MaskDecoder>(scenario.ModelHost.Model.MaskDecoder);
        Assert.Equal(Path.GetFullPath(decoderPath), decoder.Path);
        var feed = await scenario.ReadFeedAsync(ChangeCursor.Start);
        Assert.Equal(images.Count * 2, feed.Count);
        foreach (var row in feed)
        {
            using var boxes = JsonDocument.Parse(row.BoxesJson ?? "[]");
            foreach (var box in boxes.RootElement.EnumerateArray())
            {
                var hasMask = box.TryGetProperty("mask", out var mask);
                Assert.Equal(row.Task == "segment cat", hasMask);
                if (hasMask)
                {
                    Assert.Equal([48, 64], mask.GetProperty("size").EnumerateArray().Select(v => v.GetInt32()));
                    Assert.Equal(48 * 64, CocoRle.DecodeCounts(mask.GetProperty("counts").GetString()!).Sum());
                }
            }
        }
    }
}

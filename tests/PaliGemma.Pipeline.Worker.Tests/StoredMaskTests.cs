using System.Text.Json.Nodes;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Masks;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>results.boxes as the worker writes it: the contract exports and viewers read.</summary>
public sealed class StoredMaskTests
{
    [Fact]
    public void Segment_objects_store_their_mask_as_size_and_counts_and_others_store_the_box_only()
    {
        var output = new GenerationOutput
        {
            TokenIds = [1],
            Text = "x",
            Boxes =
            [
                new DetectedObject("cat", 1, 0, 3, 2, new int[16]) { Mask = new CocoRle(3, 4, "322O2") },
                new DetectedObject("dog", 0.5f, 1, 4, 3, new int[16]),
            ],
            PromptTokens = 10,
            StoppedOnEos = true,
            Milliseconds = 1,
        };

        var json = ImageJobBatchConsumer.BoxesJson(PaliGemmaTask.Parse("segment cat ; dog"), output);

        Assert.Equal(
            """[{"label":"cat","x1":1,"y1":0,"x2":3,"y2":2,"mask":{"size":[3,4],"counts":"322O2"}},{"label":"dog","x1":0.5,"y1":1,"x2":4,"y2":3}]""",
            json);
        Assert.NotNull(JsonNode.Parse(json!));
        Assert.Null(ImageJobBatchConsumer.BoxesJson(PaliGemmaTask.Parse("caption en"), output));
    }
}

using System.Text.Json.Nodes;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Masks;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Cli.Commands;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>The <c>pgpipe infer --json</c> line shape that viewers read: box keys, the optional mask, the optional note.</summary>
public sealed class InferJsonTests
{
    [Fact]
    public void Segment_boxes_carry_a_coco_rle_mask_and_detect_boxes_do_not()
    {
        var mask = new CocoRle(3, 4, "322O2");
        var output = Output(
            [
                new DetectedObject("cat", 1, 0, 3, 2, new int[16]) { Mask = mask },
                new DetectedObject("dog", 0.5f, 1, 4, 3, null),
            ],
            note: null);

        var line = JsonNode.Parse(InferCommand.ToJson("a.png", "segment cat ; dog", output))!;

        var boxes = line["boxes"]!.AsArray();
        Assert.Equal(["label", "x1", "y1", "x2", "y2", "mask"], boxes[0]!.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal(["size", "counts"], boxes[0]!["mask"]!.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal([3, 4], boxes[0]!["mask"]!["size"]!.AsArray().Select(v => (int)v!).ToArray());
        Assert.Equal("322O2", (string)boxes[0]!["mask"]!["counts"]!);
        Assert.Equal(["label", "x1", "y1", "x2", "y2"], boxes[1]!.AsObject().Select(p => p.Key).ToArray());
        Assert.False(line.AsObject().ContainsKey("note"));
    }

    [Fact]
    public void A_segment_answer_without_decoder_has_a_note_field()
    {
        var line = JsonNode.Parse(InferCommand.ToJson("a.png", "segment cat", Output([new DetectedObject("cat", 1, 0, 3, 2, new int[16])], MaskDecoder.MissingDecoderNote)))!;

        Assert.Equal(MaskDecoder.MissingDecoderNote, (string)line["note"]!);
        Assert.Null(line["boxes"]![0]!["mask"]);
    }

    private static GenerationOutput Output(IReadOnlyList<DetectedObject> boxes, string? note) => new()
    {
        TokenIds = [1],
        Text = "x",
        Boxes = boxes,
        PromptTokens = 10,
        StoppedOnEos = true,
        Milliseconds = 1,
        Note = note,
    };
}

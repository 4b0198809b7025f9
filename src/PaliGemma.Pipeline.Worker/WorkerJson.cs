using System.Text.Json.Serialization;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// A box as stored in results.boxes: original-image pixels, with its label, and for segment answers decoded with a
/// mask decoder, its mask: <c>{"label","x1","y1","x2","y2","mask":{"size":[h,w],"counts":"..."}}</c>.
/// </summary>
public sealed record StoredBox(
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("x1")] float X1,
    [property: JsonPropertyName("y1")] float Y1,
    [property: JsonPropertyName("x2")] float X2,
    [property: JsonPropertyName("y2")] float Y2)
{
    /// <summary>The object's full-image mask as COCO compressed RLE; omitted when there is none.</summary>
    [JsonPropertyName("mask")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public StoredMask? Mask { get; init; }
}

/// <summary>COCO compressed RLE: <c>size</c> is [height, width] of the original image, <c>counts</c> the pycocotools string.</summary>
public sealed record StoredMask(
    [property: JsonPropertyName("size")] int[] Size,
    [property: JsonPropertyName("counts")] string Counts);

/// <summary>Source-generated JSON for stored boxes.</summary>
[JsonSerializable(typeof(StoredBox[]))]
internal sealed partial class WorkerJson : JsonSerializerContext;

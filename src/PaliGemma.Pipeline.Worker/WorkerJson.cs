using System.Text.Json.Serialization;

namespace PaliGemma.Pipeline.Worker;

/// <summary>A box as stored in results.boxes: original-image pixels, with its label.</summary>
public sealed record StoredBox(
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("x1")] float X1,
    [property: JsonPropertyName("y1")] float Y1,
    [property: JsonPropertyName("x2")] float X2,
    [property: JsonPropertyName("y2")] float Y2);

/// <summary>Source-generated JSON for stored boxes.</summary>
[JsonSerializable(typeof(StoredBox[]))]
internal sealed partial class WorkerJson : JsonSerializerContext;

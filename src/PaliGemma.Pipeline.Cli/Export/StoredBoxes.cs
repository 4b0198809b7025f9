using System.Text.Json;
using PaliGemma.Inference.Masks;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>
/// One box as the worker stores it in results.boxes: a label and corners in original-image pixels, and for segment
/// answers its full-image mask (COCO compressed RLE), or null.
/// </summary>
internal readonly record struct StoredBox(string Label, double X1, double Y1, double X2, double Y2, CocoRle? Mask = null);

/// <summary>
/// Reads results.boxes, which the worker writes as <c>[{"label","x1","y1","x2","y2"}, ...]</c> (null or [] when
/// none); a segment object's entry adds <c>"mask": {"size": [h, w], "counts": "..."}</c>. Postgres returns jsonb re-serialised with its own key order, so exports parse and re-write the boxes
/// in a fixed order instead of copying the stored text.
/// </summary>
internal static class StoredBoxes
{
    private static readonly string[] KnownKeys = ["label", "x1", "y1", "x2", "y2"];

    /// <summary>
    /// Writes the stored boxes as a JSON array with keys label, x1, y1, x2, y2 first (any further keys, such as a
    /// future mask, follow unchanged); null or blank storage becomes [].
    /// </summary>
    public static void WriteArray(Utf8JsonWriter w, ExportRow row)
    {
        if (string.IsNullOrWhiteSpace(row.BoxesJson))
        {
            w.WriteStartArray();
            w.WriteEndArray();
            return;
        }

        using var document = Parse(row);
        w.WriteStartArray();
        foreach (var box in document.RootElement.EnumerateArray())
        {
            w.WriteStartObject();
            foreach (var key in KnownKeys)
            {
                w.WritePropertyName(key);
                box.GetProperty(key).WriteTo(w);
            }

            foreach (var property in box.EnumerateObject())
            {
                if (Array.IndexOf(KnownKeys, property.Name) < 0)
                {
                    property.WriteTo(w);
                }
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>The stored boxes of a row; empty when none are stored.</summary>
    public static IReadOnlyList<StoredBox> Read(ExportRow row)
    {
        if (string.IsNullOrWhiteSpace(row.BoxesJson))
        {
            return [];
        }

        using var document = Parse(row);
        var boxes = new List<StoredBox>();
        foreach (var box in document.RootElement.EnumerateArray())
        {
            boxes.Add(new StoredBox(
                box.GetProperty("label").GetString() ?? string.Empty,
                box.GetProperty("x1").GetDouble(),
                box.GetProperty("y1").GetDouble(),
                box.GetProperty("x2").GetDouble(),
                box.GetProperty("y2").GetDouble(),
                box.TryGetProperty("mask", out var mask) && mask.ValueKind != JsonValueKind.Null
                    ? new CocoRle(mask.GetProperty("size")[0].GetInt32(), mask.GetProperty("size")[1].GetInt32(), mask.GetProperty("counts").GetString()!)
                    : null));
        }

        return boxes;
    }

    /// <summary>Parses and checks the shape, naming the row when the stored JSON is not what the worker writes.</summary>
    private static JsonDocument Parse(ExportRow row)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(row.BoxesJson!);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"results.boxes of {row.Uri} (etag {row.ETag}, task '{row.Task}') is not valid JSON: {ex.Message}", ex);
        }

        var ok = document.RootElement.ValueKind == JsonValueKind.Array && document.RootElement.EnumerateArray().All(b =>
            b.ValueKind == JsonValueKind.Object &&
            b.TryGetProperty("label", out var label) && label.ValueKind == JsonValueKind.String &&
            KnownKeys.Skip(1).All(k => b.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.Number) &&
            (!b.TryGetProperty("mask", out var m) || m.ValueKind == JsonValueKind.Null || IsMask(m)));
        if (!ok)
        {
            document.Dispose();
            throw new InvalidDataException(
                $"results.boxes of {row.Uri} (etag {row.ETag}, task '{row.Task}') is not an array of {{\"label\": string, \"x1\", \"y1\", \"x2\", \"y2\": numbers, optional \"mask\": {{\"size\": [h, w], \"counts\": string}}}}: {Shorten(row.BoxesJson!)}");
        }

        return document;
    }

    private static bool IsMask(JsonElement m) =>
        m.ValueKind == JsonValueKind.Object &&
        m.TryGetProperty("size", out var size) && size.ValueKind == JsonValueKind.Array && size.GetArrayLength() == 2 &&
        size.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= 0) &&
        m.TryGetProperty("counts", out var counts) && counts.ValueKind == JsonValueKind.String;

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "...";
}

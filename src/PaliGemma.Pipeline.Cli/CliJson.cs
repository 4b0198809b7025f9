using System.Text.Json.Serialization;

namespace PaliGemma.Pipeline.Cli;

/// <summary>One <c>pgpipe infer --json</c> line for a row that ran.</summary>
internal sealed record InferLine(
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("token_ids")] int[] TokenIds,
    [property: JsonPropertyName("boxes")] InferBox[] Boxes,
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("generated_tokens")] int GeneratedTokens,
    [property: JsonPropertyName("ms")] double Milliseconds,
    [property: JsonPropertyName("note"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Note);

/// <summary>A box in original-image pixels; segment objects decoded with a mask decoder add their mask.</summary>
internal sealed record InferBox(
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("x1")] float X1,
    [property: JsonPropertyName("y1")] float Y1,
    [property: JsonPropertyName("x2")] float X2,
    [property: JsonPropertyName("y2")] float Y2,
    [property: JsonPropertyName("mask"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] InferMask? Mask = null);

/// <summary>A full-image mask as COCO compressed RLE: size [height, width], pycocotools counts string.</summary>
internal sealed record InferMask(
    [property: JsonPropertyName("size")] int[] Size,
    [property: JsonPropertyName("counts")] string Counts);

/// <summary>One <c>pgpipe infer --json</c> line for a row whose image could not be read.</summary>
internal sealed record InferError(
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("error")] string Error);

/// <summary>Source-generated JSON metadata, so output needs no reflection.</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(InferLine))]
[JsonSerializable(typeof(InferError))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>
/// JSON output for people and tools: relaxed escaping so "&lt;loc0123&gt;" prints as written rather than \u003C...,
/// which is still valid JSON.
/// </summary>
internal static class CliJsonOutput
{
    private static readonly System.Text.Json.JsonSerializerOptions Options = new(CliJson.Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = CliJson.Default,
    };

    public static string Serialize<T>(T value) =>
        System.Text.Json.JsonSerializer.Serialize(value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T)));
}

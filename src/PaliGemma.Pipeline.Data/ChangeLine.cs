using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// One change as <c>pgpipe changes</c> prints it (one JSON object per line) and <c>GET /api/changes</c> returns it:
/// the result row's state after the change, keyed for an indexer by <see cref="Id"/> (one row per object version,
/// model and task; an object with a new ETag gets a new id and its old row is superseded). Consumers must ignore
/// keys they do not know: later versions add some (e.g. the page of a document).
/// </summary>
/// <param name="Cursor">Opaque position of this change; pass it back as <c>--after</c> or <c>?after=</c> to resume after it.</param>
/// <param name="Op"><see cref="Upsert"/> or <see cref="Supersede"/>.</param>
/// <param name="Id">The result's database id (stable across rewrites of the same object version, model and task).</param>
/// <param name="Uri">The object's URI.</param>
/// <param name="ETag">The object version's ETag (or content hash for local files).</param>
/// <param name="Model">Model id.</param>
/// <param name="Task">Task key, e.g. "caption en".</param>
/// <param name="Text">The model's text output, or null.</param>
/// <param name="Boxes">Boxes as stored: <c>[{"label","x1","y1","x2","y2"}]</c> in original-image pixels, a segment box with its
/// <c>"mask": {"size": [h, w], "counts": "COCO RLE"}</c>; <c>[]</c> when the task found none or returns no boxes.</param>
/// <param name="PromptTokens">Prompt tokens the model read (image tokens included).</param>
/// <param name="GeneratedTokens">Tokens the model generated.</param>
/// <param name="UpdatedAt">When the row last changed (UTC).</param>
public sealed record ChangeLine(
    [property: JsonPropertyName("cursor")] string Cursor,
    [property: JsonPropertyName("op")] string Op,
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("uri")] string Uri,
    [property: JsonPropertyName("etag")] string ETag,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("task")] string Task,
    [property: JsonPropertyName("text")] string? Text,
    [property: JsonPropertyName("boxes")] JsonElement Boxes,
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("generated_tokens")] int GeneratedTokens,
    [property: JsonPropertyName("updated_at")] DateTime UpdatedAt)
{
    /// <summary>The result was written (or rewritten, or is current again): index it under <see cref="Id"/>, replacing what was there.</summary>
    public const string Upsert = "upsert";

    /// <summary>The result stopped being current (its object changed or disappeared): remove <see cref="Id"/> from the index.</summary>
    public const string Supersede = "supersede";

    private static readonly JsonElement NoBoxes = JsonDocument.Parse("[]").RootElement.Clone();

    /// <summary>Page of the document the result is on, 1-based; absent from the JSON for a whole object.</summary>
    [JsonPropertyName("page")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Page { get; init; }

    /// <summary>The line for a feed row.</summary>
    /// <exception cref="InvalidDataException">The row's stored boxes are not valid JSON (the message names the row).</exception>
    public static ChangeLine From(ChangeFeedRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return new ChangeLine(row.Position.ToString(), row.Superseded ? Supersede : Upsert, row.Id, row.Uri, row.ETag, row.Model, row.Task, row.Text,
            ParseBoxes(row), row.PromptTokens, row.GeneratedTokens, row.UpdatedAt)
        {
            Page = row.Page,
        };
    }

    private static JsonElement ParseBoxes(ChangeFeedRow row)
    {
        if (string.IsNullOrWhiteSpace(row.BoxesJson))
        {
            return NoBoxes;
        }

        try
        {
            using var document = JsonDocument.Parse(row.BoxesJson);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"results.boxes of result {row.Id} ({row.Uri}, task '{row.Task}') is not valid JSON: {ex.Message}", ex);
        }
    }
}

/// <summary>A page of <c>GET /api/changes</c>: the changes in feed order, and the cursor to ask for the next page with.</summary>
/// <param name="Changes">At most the requested limit of changes; empty when the feed has nothing after the cursor yet.</param>
/// <param name="Next">The cursor of the last change, or the requested one when the page is empty.</param>
public sealed record ChangeLinePage(
    [property: JsonPropertyName("changes")] IReadOnlyList<ChangeLine> Changes,
    [property: JsonPropertyName("next")] string Next);

/// <summary>
/// The one serialisation of <see cref="ChangeLine"/>, shared by the CLI and the HTTP API so that both print the same bytes:
/// compact, keys in declaration order, and relaxed escaping so non-ASCII text and "&lt;loc0123&gt;" stay readable
/// (still valid JSON).
/// </summary>
public static class ChangeFeedJson
{
    /// <summary>Serializer options for <see cref="ChangeLine"/> and <see cref="ChangeLinePage"/>.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = ChangeFeedJsonContext.Default,
    };

    /// <summary>Writer options matching <see cref="Options"/>, for callers that stream lines through their own writer.</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static JsonTypeInfo<ChangeLine> LineInfo { get; } = (JsonTypeInfo<ChangeLine>)Options.GetTypeInfo(typeof(ChangeLine));

    /// <summary>Writes one line's JSON object (no newline) to <paramref name="writer"/>.</summary>
    public static void Write(Utf8JsonWriter writer, ChangeLine line) => JsonSerializer.Serialize(writer, line, LineInfo);

    /// <summary>One line's JSON object as a string (no newline).</summary>
    public static string Serialize(ChangeLine line) => JsonSerializer.Serialize(line, LineInfo);
}

/// <summary>Source-generated metadata for the feed's JSON.</summary>
[JsonSerializable(typeof(ChangeLine))]
[JsonSerializable(typeof(ChangeLinePage))]
internal sealed partial class ChangeFeedJsonContext : JsonSerializerContext;

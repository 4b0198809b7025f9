using System.Text.Json;

namespace PaliGemma.Inference.Tokenization;

/// <summary>Field access on tokenizer.json with errors that name the file and the expected field.</summary>
internal static class TokenizerJson
{
    public static JsonElement Required(JsonElement element, string name, string source, string where)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out var value))
        {
            throw new TokenizerJsonException($"{source}: {where} has no '{name}' field; a Hugging Face tokenizer.json is expected.");
        }

        return value;
    }

    public static string RequiredString(JsonElement element, string name, string source, string where)
    {
        var value = Required(element, name, source, where);
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new TokenizerJsonException($"{source}: {where}.{name} must be a string, found {value.ValueKind}.");
    }

    public static JsonElement RequiredArray(JsonElement element, string name, string source, string where)
    {
        var value = Required(element, name, source, where);
        return value.ValueKind == JsonValueKind.Array
            ? value
            : throw new TokenizerJsonException($"{source}: {where}.{name} must be an array, found {value.ValueKind}.");
    }

    public static string? OptionalString(JsonElement element, string name)
        => element.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool OptionalBool(JsonElement element, string name, bool fallback)
        => element.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? v.GetBoolean()
            : fallback;

    /// <summary>Reads <c>pattern: {"String": "..."}</c>; regex patterns are rejected because .NET and Oniguruma differ.</summary>
    public static string StringPattern(JsonElement element, string source, string where)
    {
        var pattern = Required(element, "pattern", source, where);
        if (pattern.ValueKind == JsonValueKind.Object && pattern.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
        {
            return s.GetString()!;
        }

        throw new TokenizerJsonException($"{source}: {where}.pattern must be {{\"String\": ...}}; regex patterns are not supported.");
    }
}

using System.Text.Json;

namespace PaliGemma.Inference.Model;

/// <summary>Small typed accessors over a parsed JSON config file, whose errors name the file and the key.</summary>
internal sealed class JsonFile
{
    private JsonFile(string path, JsonElement root)
    {
        Path = path;
        Root = root;
    }

    public string Path { get; }

    public JsonElement Root { get; }

    public static JsonFile Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelFormatException(path, "file not found.");
        }

        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException(path, "expected a JSON object at the top level.");
            }

            return new JsonFile(path, doc.RootElement.Clone());
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, $"not valid JSON ({ex.Message}).", ex);
        }
    }

    public static JsonElement? Child(JsonElement obj, string key) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public int? OptionalInt(JsonElement obj, string key, string where)
    {
        var v = Child(obj, key);
        if (v is null)
        {
            return null;
        }

        if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetInt32(out var i))
        {
            throw new ModelFormatException(Path, $"'{where}{key}' must be an integer, found {v.Value.ValueKind}.");
        }

        return i;
    }

    public int RequiredInt(JsonElement obj, string key, string where) =>
        OptionalInt(obj, key, where) ?? throw new ModelFormatException(Path, $"missing required integer '{where}{key}'.");

    public IReadOnlyList<int> IntOrIntList(JsonElement obj, string key, string where)
    {
        var v = Child(obj, key);
        if (v is null)
        {
            return [];
        }

        if (v.Value.ValueKind == JsonValueKind.Number && v.Value.TryGetInt32(out var single))
        {
            return [single];
        }

        if (v.Value.ValueKind == JsonValueKind.Array)
        {
            var list = new List<int>();
            foreach (var e in v.Value.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var i))
                {
                    throw new ModelFormatException(Path, $"'{where}{key}' must be an integer or a list of integers.");
                }

                list.Add(i);
            }

            return list;
        }

        throw new ModelFormatException(Path, $"'{where}{key}' must be an integer or a list of integers.");
    }

    public static string? OptionalString(JsonElement obj, string key) =>
        Child(obj, key) is { ValueKind: JsonValueKind.String } s ? s.GetString() : null;
}

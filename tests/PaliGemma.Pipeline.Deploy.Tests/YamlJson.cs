using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// YAML to JSON with YAML 1.2 core-schema typing (plain true/false, integers, floats and null are typed; quoted
/// scalars are strings), which is what helm's YAML parser gives values.schema.json to validate.
/// </summary>
internal static class YamlJson
{
    public static JsonObject LoadObject(string path)
    {
        var stream = new YamlStream();
        using (var reader = File.OpenText(path))
        {
            stream.Load(reader);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new InvalidDataException($"{path}: expected one YAML document whose root is a mapping.");
        }

        return (JsonObject)Convert(root)!;
    }

    /// <summary>
    /// Every non-empty document of a multi-document stream (helm template's output) whose root is a mapping; empty
    /// documents (a template that rendered nothing) are dropped.
    /// </summary>
    public static IReadOnlyList<JsonObject> LoadDocuments(string text, string where)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(text))
        {
            stream.Load(reader);
        }

        var objects = new List<JsonObject>();
        foreach (var document in stream.Documents)
        {
            switch (document.RootNode)
            {
                case YamlMappingNode map:
                    objects.Add((JsonObject)Convert(map)!);
                    break;
                case YamlScalarNode { Value: null or "" }:
                    break;
                default:
                    throw new InvalidDataException($"{where}: a document at {document.RootNode.Start} is not a mapping.");
            }
        }

        return objects;
    }

    /// <summary>Helm's value layering: maps merge key by key, anything else in the overlay replaces the base.</summary>
    public static JsonObject Merge(JsonObject baseValues, JsonObject overlay)
    {
        var result = (JsonObject)baseValues.DeepClone();
        foreach (var (key, value) in overlay)
        {
            result[key] = result[key] is JsonObject b && value is JsonObject o ? Merge(b, o) : value?.DeepClone();
        }

        return result;
    }

    /// <summary>A flat Section__Key map of scalars as the ConfigMap/Secret templates render it (toString).</summary>
    public static Dictionary<string, string> StringMap(JsonNode? node, string where)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is null)
        {
            return map;
        }

        if (node is not JsonObject obj)
        {
            throw new InvalidDataException($"{where}: expected a map of Section__Key: value.");
        }

        foreach (var (key, value) in obj)
        {
            map[key] = value switch
            {
                null => string.Empty,
                JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
                JsonValue v => v.ToString(),
                _ => throw new InvalidDataException($"{where}.{key}: expected a scalar value, got {value.ToJsonString()}."),
            };
        }

        return map;
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? string.Empty, Convert(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidDataException($"Unsupported YAML node {node.NodeType} at {node.Start}."),
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? string.Empty;
        if (scalar.Style != YamlDotNet.Core.ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        return text switch
        {
            "" or "~" or "null" or "Null" or "NULL" => null,
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            _ when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && text.Any(char.IsDigit) => JsonValue.Create(d),
            _ => JsonValue.Create(text),
        };
    }
}

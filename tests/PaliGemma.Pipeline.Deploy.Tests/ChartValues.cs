using System.Text.Json.Nodes;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>The chart's values as helm sees them.</summary>
internal static class ChartValues
{
    /// <summary>values.yaml, or values.yaml with <paramref name="file"/> layered over it (helm -f).</summary>
    public static JsonObject Load(string file)
    {
        var defaults = YamlJson.LoadObject(RepositoryFiles.ChartValues);
        return file == "values.yaml" ? defaults : YamlJson.Merge(defaults, YamlJson.LoadObject(Path.Combine(RepositoryFiles.Chart, file)));
    }
}

using System.Text.Json.Nodes;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>The chart's values as helm sees them, and the environment each pod gets from them.</summary>
internal static class ChartValues
{
    /// <summary>values.yaml, or values.yaml with <paramref name="file"/> layered over it (helm -f).</summary>
    public static JsonObject Load(string file)
    {
        var defaults = YamlJson.LoadObject(RepositoryFiles.ChartValues);
        return file == "values.yaml" ? defaults : YamlJson.Merge(defaults, YamlJson.LoadObject(Path.Combine(RepositoryFiles.Chart, file)));
    }

    /// <summary>
    /// What each container's environment holds, in the templates' envFrom order (later wins): shared config, the
    /// component's config, the Secret, then the env entries the templates set directly.
    /// </summary>
    public static Dictionary<string, Dictionary<string, string>> ComponentEnvironments(
        JsonObject values, IReadOnlyDictionary<string, Func<JsonObject, string>> templateEnv)
    {
        var shared = YamlJson.StringMap(values["config"], "config");
        var secrets = YamlJson.StringMap(values["secrets"], "secrets");
        var observability = new[] { "Observability__Port", "Observability__BindAddress" };

        Dictionary<string, string> Layer(IEnumerable<Dictionary<string, string>> maps, IEnumerable<string> direct)
        {
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in maps.SelectMany(m => m))
            {
                env[k] = v;
            }

            foreach (var k in direct)
            {
                env[k] = templateEnv[k](values);
            }

            return env;
        }

        return new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal)
        {
            ["worker"] = Layer([shared, YamlJson.StringMap(values["worker"]!["config"], "worker.config"), secrets],
                [.. observability, "Worker__Model", "Worker__ModelsDirectory"]),
            ["producer"] = Layer([shared, YamlJson.StringMap(values["producer"]!["config"], "producer.config"), secrets], observability),
            ["migrate"] = Layer([shared, secrets], observability),
        };
    }
}

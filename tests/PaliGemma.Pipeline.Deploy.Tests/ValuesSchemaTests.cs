using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>values.schema.json accepts the chart's values and both examples, and rejects what it is there to stop.</summary>
public sealed class ValuesSchemaTests
{
    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(File.ReadAllText(RepositoryFiles.ChartSchema)));

    [Fact]
    public void Both_example_values_files_exist()
    {
        Assert.Equal(["values-cpu.yaml", "values-gpu.yaml"], RepositoryFiles.ChartExamples.Select(Path.GetFileName));
    }

    [Theory]
    [MemberData(nameof(ConfigurationKeyTests.ChartValueFiles), MemberType = typeof(ConfigurationKeyTests))]
    public void Values_validate_against_the_schema(string valuesFile)
    {
        var errors = Errors(ChartValues.Load(valuesFile));
        Assert.True(errors.Count == 0, $"{valuesFile} (over values.yaml) fails values.schema.json:\n  " + string.Join("\n  ", errors));
    }

    [Theory]
    [InlineData("a secret in a ConfigMap", """{"config": {"Messaging__Password": "x"}}""")]
    [InlineData("a connection string in a ConfigMap", """{"worker": {"config": {"Database__ConnectionString": "Host=x"}}}""")]
    [InlineData("a key that is not Section__Key", """{"config": {"messaging.host": "x"}}""")]
    [InlineData("a nested config value", """{"config": {"Worker__BatchSize": {"value": 8}}}""")]
    [InlineData("amqp, under which KEDA ignores unacked messages", """{"keda": {"protocol": "amqp"}}""")]
    [InlineData("a grace period given as a string", """{"worker": {"terminationGracePeriodSeconds": "660"}}""")]
    [InlineData("a negative GPU count", """{"worker": {"gpu": -1}}""")]
    [InlineData("a misspelt top-level value", """{"workers": {}}""")]
    [InlineData("a misspelt worker value", """{"worker": {"tolerationz": []}}""")]
    [InlineData("a relative models mount path", """{"worker": {"models": {"mountPath": "models"}}}""")]
    [InlineData("a producer without tasks", """{"producer": {"tasks": []}}""")]
    [InlineData("a queue name with capitals", """{"worker": {"queueName": "PGPIPE-JOBS"}}""")]
    [InlineData("a Hub pull dtype no export has", """{"worker": {"models": {"hub": {"dtype": "fp8"}}}}""")]
    [InlineData("a misspelt Hub pull value", """{"worker": {"models": {"hub": {"token": "hf_x"}}}}""")]
    [InlineData("a Hub endpoint that is not a URL", """{"worker": {"models": {"hub": {"endpoint": "huggingface.co"}}}}""")]
    [InlineData("a Hub token secret with an empty key", """{"worker": {"models": {"hub": {"tokenSecret": {"name": "hf", "key": ""}}}}}""")]
    public void Schema_rejects(string what, string overlay)
    {
        var values = YamlJson.Merge(ChartValues.Load("values.yaml"), JsonNode.Parse(overlay)!.AsObject());
        Assert.True(Errors(values).Count > 0, $"values.schema.json accepted {what}: {overlay}");
    }

    [Fact]
    public void Hub_pull_values_validate_and_the_worker_template_uses_each_of_them()
    {
        var overlay = """{"worker": {"model": "onnx-community/paligemma2-3b-pt-448", "models": {"hub": {"enabled": true, "revision": "main", "dtype": "q4", "endpoint": "https://hf-mirror.example", "tokenSecret": {"name": "hf-token", "key": "token"}}}}}""";
        var values = YamlJson.Merge(ChartValues.Load("values.yaml"), JsonNode.Parse(overlay)!.AsObject());
        Assert.Empty(Errors(values));

        var hub = ChartValues.Load("values.yaml")["worker"]!["models"]!["hub"]!.AsObject();
        Assert.Equal(["dtype", "enabled", "endpoint", "revision", "tokenSecret"], hub.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.False(hub["enabled"]!.GetValue<bool>());
        var template = File.ReadAllText(Path.Combine(RepositoryFiles.ChartTemplates, "worker-deployment.yaml"));
        foreach (var used in new[] { "$hub.enabled", "$hub.dtype", "$hub.endpoint", "$hub.tokenSecret.name", "$hub.tokenSecret.key", "- models", "- pull", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT" })
        {
            Assert.Contains(used, template, StringComparison.Ordinal);
        }

        Assert.Contains("$hub.revision", File.ReadAllText(Path.Combine(RepositoryFiles.ChartTemplates, "_helpers.tpl")), StringComparison.Ordinal);
    }

    private static List<string> Errors(JsonObject values)
    {
        using var document = JsonDocument.Parse(values.ToJsonString());
        var result = Schema.Value.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid
            ? []
            : (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"))
                .DefaultIfEmpty("invalid (no detail)").ToList();
    }
}

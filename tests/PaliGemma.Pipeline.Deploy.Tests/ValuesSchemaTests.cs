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
    public void Schema_rejects(string what, string overlay)
    {
        var values = YamlJson.Merge(ChartValues.Load("values.yaml"), JsonNode.Parse(overlay)!.AsObject());
        Assert.True(Errors(values).Count > 0, $"values.schema.json accepted {what}: {overlay}");
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

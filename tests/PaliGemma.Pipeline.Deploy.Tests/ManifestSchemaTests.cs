using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>Every object helm renders from each values file is valid against its Kubernetes or KEDA schema.</summary>
public sealed class ManifestSchemaTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Every_rendered_object_validates_against_its_kubernetes_or_keda_schema(string valuesFile)
    {
        var chart = RenderedChart.For(valuesFile);
        Assert.NotEmpty(chart.Objects);

        var (models, verdicts) = ManifestValidator.Validate(chart.Objects);

        output.WriteLine($"{valuesFile}: {verdicts.Count} objects ({string.Join(", ", models.Select(m => $"{m.Key} {m.Value}"))})");
        foreach (var v in verdicts)
        {
            output.WriteLine($"  {(v.Errors.Count == 0 ? "ok  " : "FAIL")} {v.ApiVersion} {v.Kind} {v.Name}  [{v.Model ?? "no model"}]");
        }

        var problems = verdicts.Where(v => v.Errors.Count > 0)
            .Select(v => $"{v.Kind} {v.Name}: {string.Join("; ", v.Errors)}").ToList();
        Assert.True(problems.Count == 0, $"{valuesFile}: {problems.Count} invalid object(s):\n  " + string.Join("\n  ", problems));
        if (chart.Values["keda"]!["enabled"]!.GetValue<bool>())
        {
            Assert.Contains(verdicts, v => v is { Kind: "ScaledObject", Model: not null });
            Assert.Contains(verdicts, v => v is { Kind: "TriggerAuthentication", Model: not null });
        }
    }

    [Fact]
    public void The_validator_rejects_what_an_api_server_or_keda_would()
    {
        // Given objects a template slip produces: a port name where a number belongs, a replica count as a string,
        // missing required fields, a kind no schema knows, unknown fields.
        var broken = new[]
        {
            """{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "w", "ports": [{"containerPort": "observability"}]}]}}}}""",
            """{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {"containers": [{"name": "w"}]}}}}""",
            """{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "w"}, "spec": {"scaleTargetRef": {"name": "w"}, "minReplicaCount": "0", "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "q"}}]}}""",
            """{"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication", "metadata": {"name": "t"}, "spec": {"secretTargetRef": [{"parameter": "host"}]}}""",
            """{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "p"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}""",
            """{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}""",
            // Fields the schemas leave open but a strict API server refuses: a key one level off, a misspelt key.
            """{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "w"}], "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": "m", "sizeLimit": "40Gi"}}]}}}}""",
            """{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "w"}, "spec": {"scaleTargetRef": {"name": "w"}, "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "q"}}], "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSecond": 900}}}}}}""",
        };

        // When they are validated.
        var (_, verdicts) = ManifestValidator.Validate(broken.Select(b => JsonNode.Parse(b)!.AsObject()));

        // Then each is rejected, with a reason.
        foreach (var (v, json) in verdicts.Zip(broken))
        {
            output.WriteLine($"{v.Kind}: {string.Join("; ", v.Errors)}");
            Assert.True(v.Errors.Count > 0, $"the validator accepted {json}");
        }
    }
}

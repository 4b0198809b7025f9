using System.Text.Json.Nodes;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// tools/node/validate-manifests.mjs: every object checked against its Kubernetes API schema (kubernetes-models) or
/// KEDA CRD schema (@kubernetes-models/keda), versions pinned in tools/node/package.json.
/// </summary>
internal static class ManifestValidator
{
    /// <summary>One object's verdict: its model module, or null when no package models its kind, and its errors.</summary>
    public sealed record Verdict(string ApiVersion, string Kind, string? Name, string? Model, IReadOnlyList<string> Errors);

    /// <summary>The validator's package versions and one verdict per object, in order.</summary>
    public static (IReadOnlyDictionary<string, string> Models, IReadOnlyList<Verdict> Verdicts) Validate(IEnumerable<JsonObject> objects)
    {
        var input = new JsonArray(objects.Select(o => (JsonNode)o.DeepClone()).ToArray());
        var script = Path.Combine(RepositoryFiles.Root, "tools", "node", "validate-manifests.mjs");
        var result = ExternalTool.Run(ExternalTool.Node, [script], input.ToJsonString());
        Assert.True(result.ExitCode == 0,
            $"{script} failed ({result.ExitCode}); is 'npm ci' done in tools/node?\n{result.Stderr}");
        var output = JsonNode.Parse(result.Stdout)!.AsObject();
        var models = output["models"]!.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!, StringComparer.Ordinal);
        var verdicts = output["results"]!.AsArray().Select(r => new Verdict(
            (string?)r!["apiVersion"] ?? "?", (string?)r["kind"] ?? "?", (string?)r["name"], (string?)r["model"],
            r["errors"]!.AsArray().Select(e => (string)e!).ToList())).ToList();
        Assert.Equal(input.Count, verdicts.Count);
        return (models, verdicts);
    }
}

using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// The chart as a real helm renders it (<c>helm template</c>) for one values file, parsed with YamlDotNet: the
/// objects a cluster would receive, and the pods, containers and environments inside them.
/// </summary>
internal sealed class RenderedChart
{
    /// <summary>Release name and namespace every rendering uses, the ones the README's install commands use.</summary>
    public const string Release = "pgpipe";

    /// <inheritdoc cref="Release"/>
    public const string Namespace = "pgpipe";

    private static readonly ConcurrentDictionary<string, Lazy<RenderedChart>> Cache = new(StringComparer.Ordinal);

    private RenderedChart(string valuesFile, string text, IReadOnlyList<JsonObject> objects)
    {
        ValuesFile = valuesFile;
        Text = text;
        Objects = objects;
        Values = ChartValues.Load(valuesFile);
    }

    /// <summary>The values file, relative to the chart folder.</summary>
    public string ValuesFile { get; }

    /// <summary>The values helm rendered with: values.yaml with the file layered over it.</summary>
    public JsonObject Values { get; }

    /// <summary>helm's output as text.</summary>
    public string Text { get; }

    /// <summary>Every object of the output, in order.</summary>
    public IReadOnlyList<JsonObject> Objects { get; }

    /// <summary>Values files CI renders: the examples users start from and the chart's ci/ files (every feature on).</summary>
    public static IReadOnlyList<string> ValueFiles { get; } =
        RepositoryFiles.ChartExamples.Concat(RepositoryFiles.ChartCiValues)
            .Select(f => Path.GetRelativePath(RepositoryFiles.Chart, f).Replace('\\', '/')).ToArray();

    /// <summary><see cref="ValueFiles"/> as xUnit theory data.</summary>
    public static TheoryData<string> ValueFileData()
    {
        var data = new TheoryData<string>();
        foreach (var file in ValueFiles)
        {
            data.Add(file);
        }

        return data;
    }

    /// <summary>The chart rendered with <paramref name="valuesFile"/>; helm runs once per file and test run.</summary>
    public static RenderedChart For(string valuesFile) =>
        Cache.GetOrAdd(valuesFile, f => new Lazy<RenderedChart>(() => Render(f, []))).Value;

    /// <summary>Renders with extra helm arguments (--set-string ...), uncached. Fails the test when helm fails.</summary>
    public static RenderedChart Render(string valuesFile, IReadOnlyList<string> extraArgs)
    {
        var result = Template(["-f", Path.Combine(RepositoryFiles.Chart, valuesFile), .. extraArgs]);
        Assert.True(result.ExitCode == 0, $"helm template with {valuesFile} failed ({result.ExitCode}):\n{result.Stderr}");
        return new RenderedChart(valuesFile, result.Stdout, YamlJson.LoadDocuments(result.Stdout, $"helm template -f {valuesFile}"));
    }

    /// <summary>Runs <c>helm template pgpipe helm/pgpipe -n pgpipe ARGS</c>, whatever its outcome.</summary>
    public static ExternalTool.Result Template(IEnumerable<string> args) =>
        ExternalTool.Run(ExternalTool.Helm, ["template", Release, RepositoryFiles.Chart, "--namespace", Namespace, .. args]);

    /// <summary>Objects of one kind.</summary>
    public IEnumerable<JsonObject> OfKind(string kind) => Objects.Where(o => (string?)o["kind"] == kind);

    /// <summary>The one object of <paramref name="kind"/> labelled with <paramref name="component"/>.</summary>
    public JsonObject Single(string kind, string component)
    {
        var matches = OfKind(kind).Where(o => (string?)o["metadata"]?["labels"]?["app.kubernetes.io/component"] == component).ToList();
        Assert.True(matches.Count == 1, $"{ValuesFile}: expected one {kind} of component {component}, found {matches.Count}.");
        return matches[0];
    }

    /// <summary>A ConfigMap or Secret of the output by name (Secret data decoded), or null when the chart renders none.</summary>
    public IReadOnlyDictionary<string, string>? Data(string kind, string name)
    {
        var obj = OfKind(kind).FirstOrDefault(o => (string?)o["metadata"]?["name"] == name);
        if (obj is null)
        {
            return null;
        }

        var data = YamlJson.StringMap(obj["data"], $"{kind} {name} data");
        return kind == "Secret"
            ? data.ToDictionary(kv => kv.Key, kv => Encoding.UTF8.GetString(Convert.FromBase64String(kv.Value)), StringComparer.Ordinal)
            : data;
    }

    /// <summary>Every pod template: Deployments', Jobs' and CronJobs' (jobTemplate).</summary>
    public IEnumerable<Pod> Pods
    {
        get
        {
            foreach (var obj in Objects)
            {
                var owner = $"{obj["kind"]} {obj["metadata"]?["name"]}";
                var template = (string?)obj["kind"] switch
                {
                    "Deployment" or "Job" or "StatefulSet" or "DaemonSet" => obj["spec"]?["template"],
                    "CronJob" => obj["spec"]?["jobTemplate"]?["spec"]?["template"],
                    _ => null,
                };
                if (template is JsonObject t)
                {
                    yield return new Pod(obj, owner, t);
                }
            }
        }
    }

    /// <summary>
    /// The environment a container starts with, as the kubelet builds it: envFrom sources in order, then env (later
    /// wins). Sources the chart does not render (Secrets managed outside it) are listed, their keys unknown here.
    /// </summary>
    public ContainerEnvironment Environment(JsonObject container)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var external = new List<string>();
        foreach (var source in container["envFrom"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var (kind, reference) = source["configMapRef"] is JsonObject c ? ("ConfigMap", c) : ("Secret", source["secretRef"]!.AsObject());
            var name = (string)reference["name"]!;
            var data = Data(kind, name);
            if (data is null)
            {
                external.Add($"{kind} {name}");
                continue;
            }

            foreach (var (k, v) in data)
            {
                values[(string?)source["prefix"] + k] = v;
            }
        }

        foreach (var entry in container["env"]?.AsArray().OfType<JsonObject>() ?? [])
        {
            var name = (string)entry["name"]!;
            if (entry["valueFrom"] is JsonObject from)
            {
                var (kind, reference) = from["configMapKeyRef"] is JsonObject c ? ("ConfigMap", c) : ("Secret", from["secretKeyRef"]?.AsObject());
                var data = reference is null ? null : Data(kind, (string)reference["name"]!);
                if (data is not null && data.TryGetValue((string)reference!["key"]!, out var v))
                {
                    values[name] = v;
                }
                else
                {
                    external.Add($"{name} from {kind} {reference?["name"]}");
                    values.Remove(name);
                }
            }
            else
            {
                values[name] = (string?)entry["value"] ?? string.Empty;
            }
        }

        return new ContainerEnvironment(values, external);
    }

    /// <summary>A pod template and the object that owns it.</summary>
    public sealed record Pod(JsonObject Owner, string OwnerName, JsonObject Template)
    {
        /// <summary>The pod spec.</summary>
        public JsonObject Spec => Template["spec"]!.AsObject();

        /// <summary>Init containers then containers, each with "init" or "" for messages.</summary>
        public IEnumerable<(string Where, JsonObject Container)> Containers =>
            (Spec["initContainers"]?.AsArray().OfType<JsonObject>() ?? []).Select(c => ($"{OwnerName} init container {c["name"]}", c))
            .Concat((Spec["containers"]?.AsArray().OfType<JsonObject>() ?? []).Select(c => ($"{OwnerName} container {c["name"]}", c)));

        /// <summary>The container named <paramref name="name"/>.</summary>
        public JsonObject Container(string name) =>
            Containers.Select(c => c.Container).SingleOrDefault(c => (string?)c["name"] == name)
            ?? throw new InvalidDataException($"{OwnerName} has no container {name}.");
    }

    /// <summary>A container's variables; <paramref name="External"/> names the sources whose keys are not known here.</summary>
    public sealed record ContainerEnvironment(IReadOnlyDictionary<string, string> Values, IReadOnlyList<string> External);
}

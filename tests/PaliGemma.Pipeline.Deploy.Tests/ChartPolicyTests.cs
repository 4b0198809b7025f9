using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// Rules every rendering of the chart keeps: required values fail with the chart's own message, pods are locked down,
/// GPU pools are scheduled onto GPUs, migrations run before the release's pods, and Secrets stay outside the output
/// when the user manages them.
/// </summary>
public sealed partial class ChartPolicyTests(ITestOutputHelper output)
{
    [Fact]
    public void Defaults_fail_with_the_charts_own_message_for_each_missing_required_value()
    {
        var messages = ChartMessages();
        Assert.NotEmpty(messages);

        // values.yaml alone leaves the KEDA queue unset, then (with a queue) the management API credentials.
        foreach (var (args, expected) in new (string[] Args, string Expected)[]
                 {
                     ([], "worker.queueName"),
                     (["--set-string", "worker.queueName=pgpipe-jobs-x"], "keda.rabbitmqManagementUrl"),
                     (["--set-string", "worker.queueName=pgpipe-jobs-x", "--set-string", "keda.existingSecret=k",
                       "--set", "worker.models.pull.enabled=true", "--set", "worker.models.hub.enabled=true"], "worker.models.hub.enabled"),
                 })
        {
            var result = RenderedChart.Template(args);
            var error = result.Stderr.Split('\n').LastOrDefault(l => l.StartsWith("Error:", StringComparison.Ordinal)) ?? string.Empty;
            output.WriteLine($"helm template {string.Join(' ', args)} -> {result.ExitCode}: {error}");
            Assert.NotEqual(0, result.ExitCode);
            Assert.True(string.IsNullOrWhiteSpace(result.Stdout), "helm printed manifests although a required value is missing.");
            var message = messages.SingleOrDefault(m => error.EndsWith(m, StringComparison.Ordinal));
            Assert.True(message is not null, $"helm's error is not one of the chart's own messages:\n{result.Stderr}");
            Assert.Contains(expected, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Install_commands_in_the_readme_and_examples_are_the_ones_ci_renders()
    {
        // Every `helm upgrade --install` a user is shown, in the README and in the examples' headers.
        var sources = new[] { Path.Combine(RepositoryFiles.Root, "README.md") }.Concat(RepositoryFiles.ChartExamples);
        var commands = sources.SelectMany(f => File.ReadLines(f).Where(l => l.Contains("helm upgrade --install", StringComparison.Ordinal))
            .Select(l => (File: Path.GetFileName(f), Line: l.TrimStart(' ', '#').Trim()))).ToList();
        var shown = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (file, line) in commands)
        {
            output.WriteLine($"{file}: {line}");
            var m = InstallCommand().Match(line);
            Assert.True(m.Success, $"{file}: '{line}' is not of the form CI renders: helm upgrade --install RELEASE helm/pgpipe -n NAMESPACE --create-namespace -f FILE");
            Assert.Equal(RenderedChart.Release, m.Groups["release"].Value);
            Assert.Equal(RenderedChart.Namespace, m.Groups["namespace"].Value);
            shown.Add(m.Groups["file"].Value);
        }

        // Each example is shown, and each shown file is one CI renders (RenderedChart.ValueFiles, same release and
        // namespace), so the commands users copy are the renderings the other tests check.
        var examples = RenderedChart.ValueFiles.Where(f => f.StartsWith("examples/", StringComparison.Ordinal)).Select(f => "helm/pgpipe/" + f).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(examples.Order(StringComparer.Ordinal), shown.Order(StringComparer.Ordinal));
        foreach (var file in shown)
        {
            Assert.NotEmpty(RenderedChart.For(file["helm/pgpipe/".Length..]).Objects);
        }
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Every_container_runs_non_root_on_a_read_only_root_filesystem_without_capabilities(string valuesFile)
    {
        var chart = RenderedChart.For(valuesFile);
        var problems = new List<string>();
        var containers = 0;
        foreach (var pod in chart.Pods)
        {
            var podContext = pod.Spec["securityContext"];
            foreach (var (where, container) in pod.Containers)
            {
                containers++;
                var context = container["securityContext"];
                bool? Setting(string name) => (bool?)context?[name] ?? (bool?)podContext?[name];
                if (Setting("runAsNonRoot") != true)
                {
                    problems.Add($"{where}: runAsNonRoot is not true.");
                }

                if (((long?)context?["runAsUser"] ?? (long?)podContext?["runAsUser"]) == 0)
                {
                    problems.Add($"{where}: runAsUser is 0.");
                }

                if ((bool?)context?["readOnlyRootFilesystem"] != true)
                {
                    problems.Add($"{where}: readOnlyRootFilesystem is not true.");
                }

                if ((bool?)context?["allowPrivilegeEscalation"] != false || (bool?)context?["privileged"] == true)
                {
                    problems.Add($"{where}: privilege escalation is not off.");
                }

                var capabilities = context?["capabilities"];
                if (capabilities?["drop"]?.AsArray().Any(c => (string?)c == "ALL") != true || capabilities["add"]?.AsArray().Count > 0)
                {
                    problems.Add($"{where}: capabilities do not drop ALL (or add some back): {capabilities?.ToJsonString()}.");
                }
            }
        }

        output.WriteLine($"{valuesFile}: {containers} containers in {chart.Pods.Count()} pod templates checked.");
        Assert.True(containers >= 2, $"{valuesFile}: found only {containers} containers.");
        Assert.True(problems.Count == 0, $"{valuesFile}:\n  " + string.Join("\n  ", problems));
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Gpu_pools_request_gpus_and_land_on_gpu_nodes_and_cpu_pools_do_not(string valuesFile)
    {
        var chart = RenderedChart.For(valuesFile);
        var worker = chart.Values["worker"]!;
        var gpus = worker["gpu"]!.GetValue<long>();
        var pod = chart.Pods.Single(p => p.Owner == chart.Single("Deployment", "worker"));
        var resources = pod.Container("worker")["resources"];
        var device = chart.Environment(pod.Container("worker")).Values.GetValueOrDefault("Inference__Device", "Auto");
        output.WriteLine($"{valuesFile}: worker.gpu {gpus}, Inference__Device {device}, resources {resources?.ToJsonString()}");
        if (gpus == 0)
        {
            Assert.DoesNotContain("nvidia.com/gpu:", chart.Text, StringComparison.Ordinal);
            Assert.NotEqual("Cuda", device, StringComparer.OrdinalIgnoreCase);
            return;
        }

        // The device plugin schedules by limits; requests must equal them for an extended resource.
        foreach (var side in new[] { "requests", "limits" })
        {
            Assert.True(resources?[side]?["nvidia.com/gpu"] is JsonValue v && v.ToString() == gpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"{valuesFile}: worker resources.{side} nvidia.com/gpu is {resources?[side]?["nvidia.com/gpu"]}, expected {gpus}.");
        }

        Assert.NotEqual("Cpu", device, StringComparer.OrdinalIgnoreCase);
        var tolerations = pod.Spec["tolerations"]?.AsArray() ?? [];
        Assert.True(tolerations.Any(t => (string?)t!["key"] == "nvidia.com/gpu" && (string?)t["operator"] is "Exists" or "Equal"
                                         && (string?)t["effect"] is null or "NoSchedule"),
            $"{valuesFile}: no toleration of the nvidia.com/gpu NoSchedule taint GPU nodes carry: {tolerations.ToJsonString()}");
        var nodeSelector = pod.Spec["nodeSelector"]?.AsObject();
        Assert.True(nodeSelector?.Any(kv => kv.Key.StartsWith("nvidia.com/", StringComparison.Ordinal)) == true,
            $"{valuesFile}: the worker pod selects no GPU node (nodeSelector {nodeSelector?.ToJsonString()}).");
        Assert.True(JsonNode.DeepEquals(worker["nodeSelector"], nodeSelector), $"{valuesFile}: nodeSelector differs from worker.nodeSelector.");
        Assert.True(JsonNode.DeepEquals(worker["tolerations"], pod.Spec["tolerations"]), $"{valuesFile}: tolerations differ from worker.tolerations.");
        Assert.False(string.IsNullOrEmpty((string?)pod.Spec["runtimeClassName"]), $"{valuesFile}: a GPU pod without runtimeClassName gets no NVIDIA runtime on containerd nodes.");
        Assert.Equal((string?)worker["runtimeClassName"], (string?)pod.Spec["runtimeClassName"]);
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Migration_job_is_a_pre_install_pre_upgrade_hook_whose_inputs_exist_before_it(string valuesFile)
    {
        var chart = RenderedChart.For(valuesFile);
        Assert.True(chart.Values["migrations"]!["enabled"]!.GetValue<bool>(), $"{valuesFile}: migrations disabled; CI renders them.");
        var job = chart.Single("Job", "migrate");
        var jobWeight = HookWeight(job);
        Assert.True(IsPreInstallAndUpgradeHook(job), $"{valuesFile}: Job {job["metadata"]!["name"]} is not a pre-install,pre-upgrade hook: {job["metadata"]!["annotations"]?.ToJsonString()}");
        var container = chart.Pods.Single(p => p.Owner == job).Container("migrate");
        Assert.Equal("migrate", (string?)container["args"]![0]);

        // On a first install the release's own objects do not exist while hooks run: the Job's ConfigMap and Secret
        // must be hooks created before it, or a Secret the user created beforehand.
        foreach (var source in container["envFrom"]!.AsArray())
        {
            var (kind, name) = source!["configMapRef"] is JsonObject c ? ("ConfigMap", (string)c["name"]!) : ("Secret", (string)source["secretRef"]!["name"]!);
            var obj = chart.OfKind(kind).SingleOrDefault(o => (string?)o["metadata"]!["name"] == name);
            if (obj is null)
            {
                Assert.True(kind == "Secret" && name == (string?)chart.Values["existingSecret"], $"{valuesFile}: the migration Job reads {kind} {name}, which the chart does not render.");
                continue;
            }

            Assert.True(IsPreInstallAndUpgradeHook(obj) && HookWeight(obj) < jobWeight,
                $"{valuesFile}: {kind} {name} read by the migration Job is not a hook created before it (weight < {jobWeight}).");
        }

        Assert.Equal(chart.Data("ConfigMap", (string)job["metadata"]!["name"]!), chart.Data("ConfigMap", RenderedChart.Release));

        // The pods that use the schema are ordinary release objects, created after the hook succeeded.
        foreach (var pod in chart.Pods.Where(p => p.Owner != job))
        {
            Assert.Null(pod.Owner["metadata"]!["annotations"]?["helm.sh/hook"]);
        }
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void With_existing_secrets_no_secret_value_is_inlined(string valuesFile)
    {
        // Given secret values set inline (as a user migrating to existing Secrets might leave them) and the chart
        // told to use existing Secrets.
        var values = ChartValues.Load(valuesFile);
        var secretKeys = YamlJson.StringMap(values["secrets"], "secrets").Keys.ToList();
        Assert.NotEmpty(secretKeys);
        var existing = values["existingSecret"]?.ToString() is { Length: > 0 } e ? e : "pgpipe-managed";
        var kedaExisting = values["keda"]!["existingSecret"]?.ToString() is { Length: > 0 } k ? k : "pgpipe-keda-managed";
        var sentinels = secretKeys.ToDictionary(key => key, key => $"inline-sentinel-{key.Replace("__", "-", StringComparison.Ordinal).ToLowerInvariant()}");
        sentinels["keda.rabbitmqManagementUrl"] = "http://inline-sentinel-user:inline-sentinel-password@rabbitmq:15672/";
        var args = new List<string> { "--set-string", $"existingSecret={existing}", "--set-string", $"keda.existingSecret={kedaExisting}" };
        foreach (var (key, sentinel) in sentinels)
        {
            args.AddRange(["--set-string", $"{(key.Contains('.', StringComparison.Ordinal) ? key : "secrets." + key)}={sentinel}"]);
        }

        // When helm renders.
        var chart = RenderedChart.Render(valuesFile, args);

        // Then no value appears, plain or base64, no Secret is rendered, and every reference names a managed Secret.
        foreach (var (key, sentinel) in sentinels)
        {
            Assert.DoesNotContain(sentinel, chart.Text, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(sentinel)), chart.Text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("inline-sentinel", chart.Text, StringComparison.Ordinal);
        Assert.Empty(chart.OfKind("Secret"));
        var allowed = new[] { existing, kedaExisting, (string?)values["worker"]!["secretName"], (string?)values["producer"]!["secretName"], (string?)values["worker"]!["models"]!["hub"]?["tokenSecret"]?["name"] }
            .Where(n => !string.IsNullOrEmpty(n)).ToHashSet(StringComparer.Ordinal);
        foreach (var pod in chart.Pods)
        {
            foreach (var (where, container) in pod.Containers)
            {
                var names = (container["envFrom"]?.AsArray() ?? []).Select(s => s!["secretRef"]?["name"])
                    .Concat((container["env"]?.AsArray() ?? []).Select(v => v!["valueFrom"]?["secretKeyRef"]?["name"]))
                    .OfType<JsonNode>().Select(n => (string)n!);
                foreach (var name in names)
                {
                    output.WriteLine($"{where} reads Secret {name}");
                    Assert.True(allowed.Contains(name), $"{valuesFile} {where}: reads Secret {name}, not one of {string.Join(", ", allowed)}.");
                }
            }
        }

        foreach (var auth in chart.OfKind("TriggerAuthentication"))
        {
            Assert.All(auth["spec"]!["secretTargetRef"]!.AsArray(), r => Assert.Equal(kedaExisting, (string?)r!["name"]));
        }
    }

    /// <summary>The chart's own messages: the texts of its required and fail calls.</summary>
    private static List<string> ChartMessages() =>
        Directory.GetFiles(RepositoryFiles.ChartTemplates)
            .SelectMany(f => ChartMessage().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value)).ToList();

    private static bool IsPreInstallAndUpgradeHook(JsonObject obj)
    {
        var hooks = ((string?)obj["metadata"]?["annotations"]?["helm.sh/hook"] ?? string.Empty).Split(',', StringSplitOptions.TrimEntries);
        return hooks.Contains("pre-install") && hooks.Contains("pre-upgrade");
    }

    private static int HookWeight(JsonObject obj) =>
        int.Parse((string?)obj["metadata"]?["annotations"]?["helm.sh/hook-weight"] ?? "0", System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^helm upgrade --install (?<release>\S+) helm/pgpipe -n (?<namespace>\S+) --create-namespace -f (?<file>\S+)$")]
    private static partial Regex InstallCommand();

    [GeneratedRegex(@"\b(?:required|fail)\s+""((?:[^""\\]|\\.)+)""")]
    private static partial Regex ChartMessage();
}

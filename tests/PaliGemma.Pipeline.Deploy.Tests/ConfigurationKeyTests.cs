using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// Every configuration key docker-compose.yml and the Helm chart (as helm renders it) set is one the app binds, with a
/// value that converts and validates; timing settings agree with each other (grace periods cover a batch, a batch fits
/// in the broker's consumer timeout).
/// </summary>
public sealed partial class ConfigurationKeyTests(ITestOutputHelper output)
{
    /// <summary>Environment variables of pgpipe containers that are runtime switches, not app configuration.</summary>
    private static readonly HashSet<string> RuntimeVariables = new(StringComparer.Ordinal) { "DOTNET_EnableDiagnostics" };

    /// <summary>
    /// What the chart's pgpipe containers may set besides Section__Key settings: the runtime switch, HOME for the
    /// read-only root filesystem, and the Hugging Face variables PaliGemma.Hub's HubSettings reads.
    /// </summary>
    private static readonly HashSet<string> ChartRuntimeVariables = new(StringComparer.Ordinal)
    {
        "DOTNET_EnableDiagnostics", "HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT",
    };

    [Fact]
    public void Options_types_are_found_by_reflection_for_every_section_the_deploy_files_use()
    {
        var catalog = OptionsCatalog.Instance;
        output.WriteLine("Sections found: " + string.Join(", ", catalog.Sections.Select(s => $"{s.Key}={s.Value.FullName}").Order()));

        // These assemblies are referenced unconditionally, so their sections must always be there.
        foreach (var section in new[] { "Messaging", "Observability", "Inference" })
        {
            Assert.True(catalog.Sections.ContainsKey(section), $"No Options type with SectionName '{section}' in {string.Join(", ", catalog.Assemblies)}.");
        }

        var missing = OptionsCatalog.ExpectedOwners.Where(o => !catalog.Sections.ContainsKey(o.Key))
            .Select(o => $"section '{o.Key}' is bound by a type in {o.Value}, {ProblemReport.NotBuiltMarker}");
        ProblemReport.AssertNone(missing, output);
    }

    [Fact]
    public void Compose_sets_only_keys_the_app_binds_with_valid_values()
    {
        var compose = ComposeFile.Load();
        var services = compose.PgpipeServices.ToList();
        Assert.Equal(["migrate", "producer", "worker"], services.Order(StringComparer.Ordinal));

        var problems = new List<string>();
        foreach (var service in services)
        {
            var env = compose.Environment(service);
            problems.AddRange(env.Keys.Where(k => !k.Contains("__", StringComparison.Ordinal) && !RuntimeVariables.Contains(k))
                .Select(k => $"compose {service}: '{k}' is neither a Section__Key setting nor a known runtime variable."));
            var settings = env.Where(kv => kv.Key.Contains("__", StringComparison.Ordinal)).ToDictionary();
            Assert.NotEmpty(settings);
            problems.AddRange(OptionsCatalog.Instance.Check($"compose {service}", settings, runValidators: true));
        }

        ProblemReport.AssertNone(problems, output);
    }

    [Fact]
    public void Compose_timeouts_cover_a_batch_and_match_the_broker()
    {
        var compose = ComposeFile.Load();
        var worker = compose.Environment("worker");
        var bound = new Dictionary<string, object>();
        ProblemReport.AssertNone(OptionsCatalog.Instance.Check("compose worker", worker.Where(kv => kv.Key.Contains("__", StringComparison.Ordinal)).ToDictionary(), false, bound), output);

        var maxBatchMs = MaxBatchDurationMs(worker, bound);
        var grace = ParseComposeDuration((string)compose.Service("worker")["stop_grace_period"]);
        Assert.True(grace.TotalMilliseconds > maxBatchMs,
            $"docker-compose.yml worker stop_grace_period {grace} must exceed Worker__MaxBatchDurationMs {maxBatchMs} ms: the worker drains its batch on SIGTERM.");

        var consumerTimeout = long.Parse(worker["Messaging__ConsumerTimeoutMs"], CultureInfo.InvariantCulture);
        Assert.True(maxBatchMs < consumerTimeout, $"Worker__MaxBatchDurationMs {maxBatchMs} must stay inside Messaging__ConsumerTimeoutMs {consumerTimeout}.");

        var brokerTimeout = ConsumerTimeoutRegex().Match(File.ReadAllText(RepositoryFiles.RabbitMqConf));
        Assert.True(brokerTimeout.Success, $"{RepositoryFiles.RabbitMqConf} sets no consumer_timeout.");
        Assert.Equal(consumerTimeout, long.Parse(brokerTimeout.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    public static TheoryData<string> ChartValueFiles()
    {
        var data = new TheoryData<string> { "values.yaml" };
        foreach (var file in RenderedChart.ValueFiles)
        {
            data.Add(file);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Rendered_pgpipe_containers_set_only_keys_the_app_binds_with_valid_values(string valuesFile)
    {
        var chart = RenderedChart.For(valuesFile);
        var problems = new List<string>();
        var checkedContainers = 0;
        foreach (var pod in chart.Pods)
        {
            foreach (var (where, container) in pod.Containers)
            {
                var env = chart.Environment(container);
                if (!IsPgpipe(chart, container))
                {
                    problems.AddRange(ToolContainerProblems($"{valuesFile} {where}", container, env));
                    continue;
                }

                checkedContainers++;
                problems.AddRange(env.Values.Keys.Where(k => !k.Contains("__", StringComparison.Ordinal) && !ChartRuntimeVariables.Contains(k))
                    .Select(k => $"{valuesFile} {where}: '{k}' is neither a Section__Key setting nor a known runtime variable."));
                var settings = env.Values.Where(kv => kv.Key.Contains("__", StringComparison.Ordinal)).ToDictionary();
                // Hosts validate their Options sections at start; a one-shot command such as the Hub init container's
                // `models pull` reads single variables, so there every key must bind but sections need not be complete.
                var host = (string?)container["args"]?[0] is "worker" or "enqueue" or "migrate";
                // Cross-field validators need every setting; a Secret managed outside the chart hides some.
                problems.AddRange(OptionsCatalog.Instance.Check($"{valuesFile} {where}", settings,
                    runValidators: host && env.External.Count == 0, bindOnly: !host));
                output.WriteLine($"{where}: {settings.Count} settings bound{(!host ? " (one-shot command)" : env.External.Count == 0 ? ", validators run" : $"; not known here: {string.Join(", ", env.External)}")}");
            }
        }

        Assert.True(checkedContainers >= 2, $"{valuesFile}: found {checkedContainers} pgpipe containers in the rendered pods.");
        ProblemReport.AssertNone(problems, output);
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Rendered_grace_period_and_scaling_windows_cover_a_batch(string valuesFile)
    {
        var chart = RenderedChart.For(valuesFile);
        var deployment = chart.Single("Deployment", "worker");
        var pod = chart.Pods.Single(p => p.Owner == deployment);
        var env = chart.Environment(pod.Container("worker")).Values.Where(kv => kv.Key.Contains("__", StringComparison.Ordinal)).ToDictionary();
        var bound = new Dictionary<string, object>();
        ProblemReport.AssertNone(OptionsCatalog.Instance.Check(valuesFile, env, false, bound), output);

        var maxBatchSeconds = MaxBatchDurationMs(env, bound) / 1000.0;
        var grace = pod.Spec["terminationGracePeriodSeconds"]!.GetValue<long>();
        Assert.True(grace > maxBatchSeconds,
            $"{valuesFile}: the worker pod's terminationGracePeriodSeconds {grace} must exceed Worker__MaxBatchDurationMs ({maxBatchSeconds} s).");

        var consumerTimeout = long.Parse(env.GetValueOrDefault("Messaging__ConsumerTimeoutMs", "1800000"), CultureInfo.InvariantCulture);
        Assert.True(maxBatchSeconds * 1000 < consumerTimeout, $"{valuesFile}: Worker__MaxBatchDurationMs must stay inside Messaging__ConsumerTimeoutMs {consumerTimeout}.");

        foreach (var scaledObject in chart.OfKind("ScaledObject"))
        {
            var spec = scaledObject["spec"]!;
            var windows = new Dictionary<string, long>
            {
                ["cooldownPeriod"] = spec["cooldownPeriod"]!.GetValue<long>(),
                ["scaleDown.stabilizationWindowSeconds"] = spec["advanced"]!["horizontalPodAutoscalerConfig"]!["behavior"]!["scaleDown"]!["stabilizationWindowSeconds"]!.GetValue<long>(),
            };
            foreach (var (name, seconds) in windows)
            {
                Assert.True(seconds >= maxBatchSeconds, $"{valuesFile}: ScaledObject {name} {seconds} s is shorter than one batch ({maxBatchSeconds} s).");
            }

            // amqp counts ready messages only, so KEDA would scale busy pods (their batch unacked) away.
            Assert.Equal("http", (string?)spec["triggers"]![0]!["metadata"]!["protocol"]);
        }
    }

    /// <summary>
    /// A container of the app's images (worker or producer image, the pgpipe entrypoint); others are tool images such
    /// as the S3 model pull's aws-cli, whose environment is not app configuration.
    /// </summary>
    private static bool IsPgpipe(RenderedChart chart, JsonObject container)
    {
        var image = (string?)container["image"];
        return container["command"] is null && new[] { "worker", "producer" }.Any(c =>
            image == $"{chart.Values[c]!["image"]!["repository"]}:{chart.Values[c]!["image"]!["tag"]}");
    }

    /// <summary>Section__Key names a tool container's shell command reads must reach it and be ones the app binds.</summary>
    private static IEnumerable<string> ToolContainerProblems(string where, JsonObject container, RenderedChart.ContainerEnvironment env)
    {
        var script = string.Join('\n', new[] { container["command"], container["args"] }.OfType<JsonArray>().SelectMany(a => a).Select(n => (string?)n));
        foreach (var name in ShellVariable().Matches(script).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal))
        {
            if (!env.Values.ContainsKey(name) && env.External.Count == 0)
            {
                yield return $"{where}: its command reads ${name}, which none of its env or envFrom sources sets.";
            }

            var parts = name.Split("__");
            if (!OptionsCatalog.Instance.Sections.TryGetValue(parts[0], out var type) || type.GetProperty(parts[1]) is not { CanWrite: true })
            {
                yield return $"{where}: its command reads ${name}, which no Options class binds.";
            }
        }
    }

    private static long MaxBatchDurationMs(IReadOnlyDictionary<string, string> settings, Dictionary<string, object> bound)
    {
        if (bound.TryGetValue("WorkerOptions", out var worker))
        {
            return System.Convert.ToInt64(worker.GetType().GetProperty("MaxBatchDurationMs")!.GetValue(worker), CultureInfo.InvariantCulture);
        }

        // Worker assembly not built here: the deploy files must then state the value themselves.
        Assert.False(ProblemReport.IsCi, "WorkerOptions not found by reflection; CI must build PaliGemma.Pipeline.Worker next to the tests.");
        Assert.True(settings.TryGetValue("Worker__MaxBatchDurationMs", out var raw), "Worker__MaxBatchDurationMs is not set and WorkerOptions (its default) is not built here.");
        return long.Parse(raw, CultureInfo.InvariantCulture);
    }

    private static TimeSpan ParseComposeDuration(string text)
    {
        var m = DurationRegex().Match(text);
        Assert.True(m.Success, $"stop_grace_period '{text}' is not a compose duration like 660s or 11m.");
        var n = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch { "h" => TimeSpan.FromHours(n), "m" => TimeSpan.FromMinutes(n), "ms" => TimeSpan.FromMilliseconds(n), _ => TimeSpan.FromSeconds(n) };
    }

    [GeneratedRegex(@"\$\{?([A-Z][A-Za-z0-9]*__[A-Z][A-Za-z0-9]*)\b")]
    private static partial Regex ShellVariable();

    [GeneratedRegex(@"^\s*consumer_timeout\s*=\s*(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ConsumerTimeoutRegex();

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(h|m|s|ms)$")]
    private static partial Regex DurationRegex();
}

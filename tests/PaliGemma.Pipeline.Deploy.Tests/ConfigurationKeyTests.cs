using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// Every configuration key docker-compose.yml and the Helm chart set is one the app binds, with a value that
/// converts and validates; timing settings agree with each other (grace periods cover a batch, a batch fits in the
/// broker's consumer timeout).
/// </summary>
public sealed partial class ConfigurationKeyTests(ITestOutputHelper output)
{
    /// <summary>
    /// Section__Key variables the chart's templates set themselves (not from a values map), with the value each
    /// renders from the values. TemplatesSetOnlyTheseKeys keeps this list equal to what the templates contain.
    /// </summary>
    private static readonly Dictionary<string, Func<JsonObject, string>> TemplateEnv = new(StringComparer.Ordinal)
    {
        ["Observability__Port"] = v => v["observability"]!["port"]!.ToString(),
        ["Observability__BindAddress"] = _ => "0.0.0.0",
        ["Worker__Model"] = v => v["worker"]!["model"]!.ToString(),
        ["Worker__ModelsDirectory"] = v => v["worker"]!["models"]!["mountPath"]!.ToString(),
        // Referenced by the model pull init container's shell command (values), read from the app Secret.
        ["S3__AccessKey"] = v => v["secrets"]?["S3__AccessKey"]?.ToString() ?? string.Empty,
        ["S3__SecretKey"] = v => v["secrets"]?["S3__SecretKey"]?.ToString() ?? string.Empty,
    };

    /// <summary>Environment variables of pgpipe containers that are runtime switches, not app configuration.</summary>
    private static readonly HashSet<string> RuntimeVariables = new(StringComparer.Ordinal) { "DOTNET_EnableDiagnostics" };

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
        foreach (var example in RepositoryFiles.ChartExamples)
        {
            data.Add(Path.GetRelativePath(RepositoryFiles.Chart, example));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ChartValueFiles))]
    public void Chart_sets_only_keys_the_app_binds_with_valid_values(string valuesFile)
    {
        var values = ChartValues.Load(valuesFile);
        var problems = new List<string>();
        var secrets = YamlJson.StringMap(values["secrets"], "secrets");
        // Cross-field validators need real secrets; values that leave them to an existing Secret get annotations only.
        var complete = string.IsNullOrEmpty(values["existingSecret"]?.ToString()) && secrets.Count > 0 && secrets.Values.All(v => v.Length > 0);

        foreach (var (component, env) in ChartValues.ComponentEnvironments(values, TemplateEnv))
        {
            problems.AddRange(OptionsCatalog.Instance.Check($"{valuesFile} {component}", env, runValidators: complete));
        }

        ProblemReport.AssertNone(problems, output);
    }

    [Theory]
    [MemberData(nameof(ChartValueFiles))]
    public void Chart_grace_period_and_scaling_windows_cover_a_batch(string valuesFile)
    {
        var values = ChartValues.Load(valuesFile);
        var env = ChartValues.ComponentEnvironments(values, TemplateEnv)["worker"];
        var bound = new Dictionary<string, object>();
        ProblemReport.AssertNone(OptionsCatalog.Instance.Check(valuesFile, env, false, bound), output);

        var maxBatchSeconds = MaxBatchDurationMs(env, bound) / 1000.0;
        var grace = values["worker"]!["terminationGracePeriodSeconds"]!.GetValue<long>();
        Assert.True(grace > maxBatchSeconds,
            $"{valuesFile}: worker.terminationGracePeriodSeconds {grace} must exceed Worker__MaxBatchDurationMs ({maxBatchSeconds} s).");
        foreach (var window in new[] { "cooldownPeriod", "scaleDownStabilizationSeconds" })
        {
            var seconds = values["keda"]![window]!.GetValue<long>();
            Assert.True(seconds >= maxBatchSeconds, $"{valuesFile}: keda.{window} {seconds} s is shorter than one batch ({maxBatchSeconds} s).");
        }

        var consumerTimeout = long.Parse(env.GetValueOrDefault("Messaging__ConsumerTimeoutMs", "1800000"), CultureInfo.InvariantCulture);
        Assert.True(maxBatchSeconds * 1000 < consumerTimeout, $"{valuesFile}: Worker__MaxBatchDurationMs must stay inside Messaging__ConsumerTimeoutMs {consumerTimeout}.");
        Assert.Equal("http", values["keda"]!["protocol"]!.ToString());
    }

    [Fact]
    public void Templates_set_only_the_keys_listed_here_and_each_is_bound()
    {
        // Names in the templates, plus names in values.yaml outside its Section__Key maps (the pull command).
        var values = ChartValues.Load("values.yaml");
        var mapKeys = new[] { values["config"], values["secrets"], values["worker"]!["config"], values["producer"]!["config"] }
            .SelectMany(n => YamlJson.StringMap(n, "values").Keys).ToHashSet(StringComparer.Ordinal);
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(RepositoryFiles.ChartTemplates))
        {
            found.UnionWith(SettingName().Matches(WithoutComments(File.ReadAllText(file))).Select(m => m.Value));
        }

        var valuesText = WithoutComments(string.Join('\n', File.ReadLines(RepositoryFiles.ChartValues).Where(l => !MapEntry().IsMatch(l))));
        found.UnionWith(SettingName().Matches(valuesText).Select(m => m.Value).Where(k => !mapKeys.Contains(k) || TemplateEnv.ContainsKey(k)));
        Assert.Equal(TemplateEnv.Keys.Order(StringComparer.Ordinal), found);

        var problems = new List<string>();
        foreach (var key in found)
        {
            var parts = key.Split("__");
            if (!OptionsCatalog.Instance.Sections.TryGetValue(parts[0], out var type))
            {
                problems.Add(OptionsCatalog.ExpectedOwners.TryGetValue(parts[0], out var owner)
                    ? $"chart key {key}: section '{parts[0]}' is bound by a type in {owner}, {ProblemReport.NotBuiltMarker}"
                    : $"chart key {key}: no Options class binds section '{parts[0]}'.");
            }
            else if (type.GetProperty(parts[1]) is not { CanWrite: true })
            {
                problems.Add($"chart key {key}: {type.FullName} has no settable property '{parts[1]}'.");
            }
        }

        ProblemReport.AssertNone(problems, output);
    }

    /// <summary>Drops Go-template comments and YAML # comments, which name settings in prose.</summary>
    private static string WithoutComments(string text) =>
        YamlComment().Replace(TemplateComment().Replace(text, string.Empty), string.Empty);

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

    [GeneratedRegex(@"\b[A-Z][A-Za-z0-9]*__[A-Z][A-Za-z0-9]*\b")]
    private static partial Regex SettingName();

    [GeneratedRegex(@"\{\{-?\s*/\*.*?\*/\s*-?\}\}", RegexOptions.Singleline)]
    private static partial Regex TemplateComment();

    [GeneratedRegex(@"(^|\s)#.*$", RegexOptions.Multiline)]
    private static partial Regex YamlComment();

    [GeneratedRegex(@"^\s*[A-Z][A-Za-z0-9]*__[A-Z][A-Za-z0-9]*\s*:")]
    private static partial Regex MapEntry();

    [GeneratedRegex(@"^\s*consumer_timeout\s*=\s*(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ConsumerTimeoutRegex();

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)(h|m|s|ms)$")]
    private static partial Regex DurationRegex();
}

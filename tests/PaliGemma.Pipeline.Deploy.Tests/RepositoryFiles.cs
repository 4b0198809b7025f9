using System.Reflection;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>Paths of the deployment files under test, from the repository root baked in at build time.</summary>
internal static class RepositoryFiles
{
    public static string Root { get; } = FindRoot();

    public static string ComposeFile => Path.Combine(Root, "docker-compose.yml");
    public static string EnvExample => Path.Combine(Root, ".env.example");
    public static string RabbitMqConf => Path.Combine(Root, "deploy", "rabbitmq", "rabbitmq.conf");
    public static string Dashboard => Path.Combine(Root, "deploy", "grafana", "pgpipe-dashboard.json");
    public static string Chart => Path.Combine(Root, "helm", "pgpipe");
    public static string ChartValues => Path.Combine(Chart, "values.yaml");
    public static string ChartSchema => Path.Combine(Chart, "values.schema.json");
    public static string ChartTemplates => Path.Combine(Chart, "templates");

    /// <summary>The example values files, each layered over values.yaml as helm -f does.</summary>
    public static IReadOnlyList<string> ChartExamples { get; } =
        Directory.Exists(Path.Combine(Chart, "examples"))
            ? Directory.GetFiles(Path.Combine(Chart, "examples"), "values-*.yaml").Order(StringComparer.Ordinal).ToArray()
            : [];

    /// <summary>The chart's ci/*-values.yaml files (every optional feature on), each layered over values.yaml.</summary>
    public static IReadOnlyList<string> ChartCiValues { get; } =
        Directory.Exists(Path.Combine(Chart, "ci"))
            ? Directory.GetFiles(Path.Combine(Chart, "ci"), "*-values.yaml").Order(StringComparer.Ordinal).ToArray()
            : [];

    private static string FindRoot()
    {
        var root = typeof(RepositoryFiles).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (root is null || !File.Exists(Path.Combine(root, "docker-compose.yml")))
        {
            throw new InvalidOperationException(
                $"Repository root '{root}' (AssemblyMetadata RepositoryRoot of the test assembly) holds no docker-compose.yml.");
        }

        return root;
    }
}

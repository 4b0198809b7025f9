using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// Fails a test with every problem listed at once. A section whose Options assembly is not built here (a project
/// still on another branch) is a failure in CI and a note in the test output elsewhere, per the project's rule for
/// missing dependencies; every other problem always fails.
/// </summary>
internal static class ProblemReport
{
    public static bool IsCi =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public const string NotBuiltMarker = "which is not built next to the tests";

    public static void AssertNone(IEnumerable<string> problems, ITestOutputHelper output)
    {
        var all = problems.Distinct(StringComparer.Ordinal).ToList();
        var notBuilt = all.Where(p => p.Contains(NotBuiltMarker, StringComparison.Ordinal)).ToList();
        var hard = IsCi ? all : all.Except(notBuilt).ToList();
        if (!IsCi)
        {
            foreach (var p in notBuilt)
            {
                output.WriteLine("NOT CHECKED (fails when CI=true): " + p);
            }
        }

        Assert.True(hard.Count == 0, $"{hard.Count} deployment configuration problem(s):\n  " + string.Join("\n  ", hard));
    }
}

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>Locates the repository (fixtures, docs) by walking up from the test binary.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Images => Path.Combine(RepoRoot, "tests", "fixtures", "images");

    public static string TinyModel => Path.Combine(RepoRoot, "tests", "fixtures", "models", "tiny");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PaliGemma.Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"PaliGemma.Pipeline.sln was not found above {AppContext.BaseDirectory}; run the tests from the repository checkout.");
    }
}

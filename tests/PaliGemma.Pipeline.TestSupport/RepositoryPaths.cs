namespace PaliGemma.Pipeline.TestSupport;

/// <summary>Where the repository is, found from the test binary's folder, so tests read fixtures and sources wherever the clone lives.</summary>
public static class RepositoryPaths
{
    /// <summary>The folder holding PaliGemma.Pipeline.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>A path under the repository root.</summary>
    public static string Combine(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PaliGemma.Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"PaliGemma.Pipeline.sln not found above {AppContext.BaseDirectory}.");
    }
}

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>The real pgpipe binary, run as its own process the way a container runs it.</summary>
internal static class Pgpipe
{
    /// <summary>
    /// pgpipe.dll in the CLI's own output folder (built through the project reference, same configuration). Not a
    /// copy beside the tests, whose ASP.NET Core framework reference resolves other Microsoft.Extensions versions.
    /// </summary>
    public static string Dll { get; } = Path.Combine(RepositoryFiles.Root, "src", "PaliGemma.Pipeline.Cli", "bin",
        new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, new DirectoryInfo(AppContext.BaseDirectory).Name, "pgpipe.dll");

    /// <summary>
    /// Runs <c>pgpipe ARGS</c> with exactly <paramref name="environment"/> as its configuration: inherited
    /// Section__Key variables are removed, and it runs in an empty folder so no appsettings.json or model folder of
    /// this checkout is picked up. Returns its standard output, trimmed; a failure fails the test.
    /// </summary>
    public static string Run(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        Assert.True(File.Exists(Dll), $"pgpipe.dll not found at {Dll}; the test project must reference src/PaliGemma.Pipeline.Cli.");
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => n.Contains("__", StringComparison.Ordinal)))
        {
            env[name] = null;
        }

        foreach (var (k, v) in environment)
        {
            env[k] = v;
        }

        var folder = Directory.CreateTempSubdirectory("pgpipe-deploy-");
        try
        {
            var result = ExternalTool.Run("dotnet", [Dll, .. args], environment: env, workingDirectory: folder.FullName);
            Assert.True(result.ExitCode == 0, $"pgpipe {string.Join(' ', args)} exited {result.ExitCode}:\n{result.Stderr}");
            return result.Stdout.Trim();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}

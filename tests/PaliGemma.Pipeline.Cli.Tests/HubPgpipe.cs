using System.Diagnostics;
using PaliGemma.Pipeline.TestSupport.Hub;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>One run of the real pgpipe binary as a separate process with its own environment, without this machine's Hub settings.</summary>
public static class Pgpipe
{
    /// <summary>
    /// pgpipe.dll in the CLI's own output folder (built by the project reference, same configuration), whose
    /// deps.json and assemblies are exactly pgpipe's, whatever the test project's own references bring beside it.
    /// </summary>
    public static string Dll { get; } = Path.Combine(TestEnvironment.RepoRoot, "src", "PaliGemma.Pipeline.Cli", "bin",
        new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, new DirectoryInfo(AppContext.BaseDirectory).Name, "pgpipe.dll");

    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        Assert.True(File.Exists(Dll), $"pgpipe.dll not found at {Dll}; the test project must reference src/PaliGemma.Pipeline.Cli.");
        return RunToolAsync("dotnet", environment, [Dll, .. args]);
    }

    /// <summary>Runs any program with the Hub variables of this machine removed and <paramref name="environment"/> set.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToolAsync(string file, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // A developer's own Hub settings must not leak into the test.
        foreach (var name in new[] { "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE" })
        {
            info.Environment.Remove(name);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}

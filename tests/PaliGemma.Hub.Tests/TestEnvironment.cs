using System.Diagnostics;
using System.Text;

namespace PaliGemma.Hub.Tests;

/// <summary>Repository paths, temp folders and external oracles (git, sha256sum) for the Hub tests.</summary>
public static class TestEnvironment
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string TinyModel => Path.Combine(RepoRoot, "tests", "fixtures", "models", "tiny");

    public static string Image(string name) => Path.Combine(RepoRoot, "tests", "fixtures", "images", name);

    /// <summary>Fast retries so tests spend their time on behaviour, not on waiting.</summary>
    public static HubClientOptions FastOptions() => new()
    {
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(100),
        StallTimeout = TimeSpan.FromSeconds(20),
        MaxConnectAttempts = 1,
    };

    public static string NewTempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "pgpipe-hub-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void DeleteQuietly(string dir)
    {
        try
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
            // A leftover temp folder is not a test failure.
        }
    }

    /// <summary>Runs a tool and returns its stdout; fails with a clear message when it is missing.</summary>
    public static string Tool(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        try
        {
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEnd();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}: {stderr}");
            return stdout;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"'{file}' is needed as an independent hash oracle and was not found on PATH.", ex);
        }
    }

    /// <summary>The git blob id of a file, by git itself.</summary>
    public static string GitHashObject(string path) => Tool("git", "hash-object", "--no-filters", path).Trim();

    /// <summary>The sha256 of a file, by coreutils.</summary>
    public static string Sha256Sum(string path) => Tool("sha256sum", path).Split(' ')[0];

    private static string FindRepoRoot()
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

/// <summary>One run of the real pgpipe binary as a separate process with its own environment.</summary>
public static class Pgpipe
{
    /// <summary>
    /// pgpipe.dll in the CLI's own output folder (built by the project reference, same configuration). Not the copy
    /// beside the tests: this project's ASP.NET Core framework reference keeps package assemblies pgpipe's deps.json
    /// expects (newer Microsoft.Extensions.*) out of the test folder.
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

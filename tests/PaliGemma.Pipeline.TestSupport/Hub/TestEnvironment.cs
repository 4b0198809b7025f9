using System.Diagnostics;
using System.Text;
using PaliGemma.Hub;

namespace PaliGemma.Pipeline.TestSupport.Hub;

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

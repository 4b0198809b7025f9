using PaliGemma.Hub;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.TestSupport.Hub;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>The real pgpipe binary against the fake Hub: pull, list, verify, and an offline infer from the cache.</summary>
public sealed class HubCliTests : HubTestBase
{
    private Dictionary<string, string?> Environment(bool offline) => new()
    {
        ["HF_ENDPOINT"] = Hub.Endpoint,
        ["HF_HUB_CACHE"] = CacheDir,
        ["HF_TOKEN"] = Token,
        ["HF_HUB_OFFLINE"] = offline ? "1" : "0",
    };

    [Fact]
    public async Task Pulled_model_runs_infer_offline_with_output_identical_to_the_local_folder()
    {
        var pull = await Pgpipe.RunAsync(Environment(offline: false), "models", "pull", RepoName, "--dtype", "fp32");
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        Assert.Equal(Cache.SnapshotDirectory(RepoName, Repo.Commit), pull.Stdout.Trim());
        // Not a terminal: plain lines, one per file, and no ANSI escapes.
        Assert.Contains("downloaded onnx/decoder_model_merged.onnx", pull.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", pull.Stderr, StringComparison.Ordinal);

        var hubRequests = Hub.Seen.Count;
        string[] inferArgs = ["--image", TestEnvironment.Image("42x42-shapes.png"), "--image", TestEnvironment.Image("56x56-doc.png"),
            "--prompt", "caption en", "--prompt", "detect cat", "--max-new-tokens", "6", "--json"];
        var local = await Pgpipe.RunAsync(Environment(offline: true), ["infer", "--model", TestEnvironment.TinyModel, .. inferArgs]);
        var fromCache = await Pgpipe.RunAsync(Environment(offline: true), ["infer", "--model", RepoName, .. inferArgs]);

        Assert.True(local.ExitCode == 0, local.Stderr);
        Assert.True(fromCache.ExitCode == 0, fromCache.Stderr);
        Assert.Equal(4, local.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(WithoutTimings(local.Stdout), WithoutTimings(fromCache.Stdout));
        Assert.Equal(hubRequests, Hub.Seen.Count);

        var list = await Pgpipe.RunAsync(Environment(offline: true), "models", "list");
        Assert.True(list.ExitCode == 0, list.Stderr);
        var row = Assert.Single(list.Stdout.Split('\n'), l => l.StartsWith(RepoName, StringComparison.Ordinal));
        Assert.Contains(Repo.Commit, row, StringComparison.Ordinal);
        Assert.EndsWith("fp32", row.TrimEnd(), StringComparison.Ordinal);

        var verify = await Pgpipe.RunAsync(Environment(offline: true), "models", "verify", RepoName);
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.Contains($"{Fp32Files.Length} blobs checked, 0 mismatched", verify.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Each JSON line without its "ms" timing, the one field that may differ between two identical runs.</summary>
    private static string[] WithoutTimings(string jsonLines) => jsonLines.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(line =>
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
            Assert.True(node.Remove("ms"), $"no ms field in {line}");
            return node.ToJsonString();
        })
        .ToArray();

    [Fact]
    public async Task Infer_with_an_uncached_repo_offline_fails_naming_the_pull_command()
    {
        var result = await Pgpipe.RunAsync(Environment(offline: true),
            "infer", "--model", RepoName, "--dtype", "q4", "--image", TestEnvironment.Image("42x42-shapes.png"), "--prompt", "caption en");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"pgpipe models pull {RepoName} --dtype q4", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("is not a local folder", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_with_a_repo_id_online_pulls_what_is_missing_first()
    {
        var result = await Pgpipe.RunAsync(Environment(offline: false),
            "infer", "--model", RepoName, "--image", TestEnvironment.Image("42x42-shapes.png"), "--prompt", "caption en", "--max-new-tokens", "4");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.NotNull(HubModelResolver.FindCached(Cache, new HubModelId(RepoName, "main"), ModelDtype.Fp32));
    }

    [Fact]
    public async Task Embedded_run_with_a_repo_id_loads_the_worker_model_from_the_cache_offline()
    {
        var pull = await Pgpipe.RunAsync(Environment(offline: false), "models", "pull", RepoName);
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        var work = TestEnvironment.NewTempDirectory();
        try
        {
            var images = Directory.CreateDirectory(Path.Combine(work, "images")).FullName;
            File.Copy(TestEnvironment.Image("42x42-shapes.png"), Path.Combine(images, "a.png"));
            File.Copy(TestEnvironment.Image("56x56-doc.png"), Path.Combine(images, "b.png"));
            var requests = Hub.Seen.Count;

            // run resolves the model through the worker's ModelReference (configuration Worker:Model), not infer's path.
            var run = await Pgpipe.RunAsync(Environment(offline: true),
                "run", images, "--task", "caption en", "--max-new-tokens", "3", "--model", RepoName, "--db", Path.Combine(work, "results.db"));

            Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
            Assert.Contains("2 images listed", run.Stdout, StringComparison.Ordinal);
            Assert.Equal(requests, Hub.Seen.Count);
        }
        finally
        {
            TestEnvironment.DeleteQuietly(work);
        }
    }

    [Fact]
    public async Task On_a_terminal_pull_draws_a_bar_per_file_and_a_total()
    {
        // util-linux `script` gives pgpipe a pseudo-terminal, so stderr is a TTY as in an interactive shell.
        var command = $"dotnet {Quote(Pgpipe.Dll)} models pull {RepoName}";
        var env = Environment(offline: false);
        env["TERM"] = "xterm";
        env["COLUMNS"] = "160";
        var result = await Pgpipe.RunToolAsync("script", env, "-qec", command, "/dev/null");

        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        var screen = result.Stdout;
        Assert.Contains("total", screen, StringComparison.Ordinal);
        Assert.Contains("onnx/decoder_model_merged.onnx", screen, StringComparison.Ordinal);
        Assert.Contains("100%", screen, StringComparison.Ordinal);
        Assert.Contains(Cache.SnapshotDirectory(RepoName, Repo.Commit), screen, StringComparison.Ordinal);
    }

    private static string Quote(string path) => "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [Fact]
    public async Task Infer_with_the_hub_unreachable_uses_the_cache_and_says_so()
    {
        await PullAsync();
        var env = Environment(offline: false);
        env["HF_ENDPOINT"] = "http://127.0.0.1:9";

        var result = await Pgpipe.RunAsync(env,
            "infer", "--model", RepoName, "--image", TestEnvironment.Image("42x42-shapes.png"), "--prompt", "caption en", "--max-new-tokens", "2");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"using the cached snapshot {Repo.Commit} of {RepoName}", result.Stderr, StringComparison.Ordinal);
        Assert.Single(result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Pull_of_a_gated_repo_exits_2_with_the_licence_step()
    {
        Hub.AddRepo(new FakeRepo("pgpipe-tests/gated", NewCommit(), Repo.Files) { GatedAllowedTokens = ["hf_granted"] });
        var env = Environment(offline: false);
        env.Remove("HF_TOKEN");

        var result = await Pgpipe.RunAsync(env, "models", "pull", "pgpipe-tests/gated");

        // 2: access is configuration (a token, a licence to accept), as in the README's exit-code table.
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"accept the licence at {Hub.Endpoint}/pgpipe-tests/gated", result.Stderr, StringComparison.Ordinal);
    }
}

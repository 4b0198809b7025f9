using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;

namespace PaliGemma.Hub.Tests;

/// <summary>A repo id resolves to a cached snapshot online, offline and with the Hub unreachable.</summary>
public sealed class ResolverTests : HubTestBase
{
    private static readonly HubModelId Id = new(RepoName, "main");

    [Fact]
    public async Task Offline_with_nothing_cached_names_the_pull_command()
    {
        var resolver = new HubModelResolver(Settings(offline: true), TestEnvironment.FastOptions());

        var ex = await Assert.ThrowsAsync<HubCacheMissException>(() => resolver.ResolveAsync(Id, ModelDtype.Fp16, null, CancellationToken.None));

        Assert.Contains("HF_HUB_OFFLINE is set", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"pgpipe models pull {RepoName} --dtype fp16", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Hub.Seen);
    }

    [Fact]
    public async Task Online_resolution_pulls_then_offline_and_unreachable_use_the_cache()
    {
        var online = await new HubModelResolver(Settings(), TestEnvironment.FastOptions()).ResolveAsync(Id, ModelDtype.Fp32, null, CancellationToken.None);
        Assert.Equal(Cache.SnapshotDirectory(RepoName, Repo.Commit), online);
        var requests = Hub.Seen.Count;

        var offline = await new HubModelResolver(Settings(offline: true)).ResolveAsync(Id, ModelDtype.Fp32, null, CancellationToken.None);
        Assert.Equal(online, offline);
        Assert.Equal(requests, Hub.Seen.Count);

        var unreachable = await new HubModelResolver(Settings(endpoint: "http://127.0.0.1:9"), TestEnvironment.FastOptions())
            .ResolveAsync(Id, ModelDtype.Fp32, null, CancellationToken.None);
        Assert.Equal(online, unreachable);

        var pinned = await new HubModelResolver(Settings(offline: true)).ResolveAsync(new HubModelId(RepoName, Repo.Commit), ModelDtype.Fp32, null, CancellationToken.None);
        Assert.Equal(online, pinned);

        // The cached snapshot holds fp32 only; asking for fp16 offline is a miss, not a half model.
        await Assert.ThrowsAsync<HubCacheMissException>(() => new HubModelResolver(Settings(offline: true)).ResolveAsync(Id, ModelDtype.Fp16, null, CancellationToken.None));
    }

    [Fact]
    public async Task Cache_listing_reports_revisions_commit_files_and_dtypes()
    {
        await PullAsync();

        var repo = Assert.Single(Cache.ListRepos());
        Assert.Equal(RepoName, repo.Repo);
        Assert.Equal(Repo.Commit, repo.Refs["main"]);
        var snapshot = Assert.Single(repo.Snapshots);
        Assert.Equal(["main"], snapshot.Revisions);
        Assert.Equal(Fp32Files, snapshot.Files);
        Assert.Equal(["fp32"], snapshot.Dtypes);
        Assert.Equal(Repo.Files.Where(f => Fp32Files.Contains(f.Path)).Sum(f => (long)f.Bytes.Length), snapshot.Bytes);
    }
}

/// <summary>Environment variables, repo ids and file selection, against huggingface_hub's documented rules.</summary>
public sealed class SettingsAndSelectionTests
{
    [Fact]
    public void Cache_and_token_come_from_the_same_variables_as_huggingface_hub()
    {
        var home = TestEnvironment.NewTempDirectory();
        try
        {
            File.WriteAllText(Path.Combine(home, "token"), "hf_from_file\n");
            var env = new Dictionary<string, string?> { ["HF_HOME"] = home };
            var s = HubSettings.FromEnvironment(n => env.GetValueOrDefault(n));
            Assert.Equal(Path.Combine(home, "hub"), s.CacheDirectory);
            Assert.Equal("https://huggingface.co", s.Endpoint);
            Assert.Equal("hf_from_file", s.Token);
            Assert.False(s.Offline);

            env["HUGGINGFACE_HUB_CACHE"] = "/legacy";
            Assert.Equal("/legacy", HubSettings.FromEnvironment(n => env.GetValueOrDefault(n)).CacheDirectory);
            env["HF_HUB_CACHE"] = "/new";
            env["HUGGING_FACE_HUB_TOKEN"] = "hf_old_name";
            env["HF_ENDPOINT"] = "https://mirror.example/";
            env["HF_HUB_OFFLINE"] = "1";
            s = HubSettings.FromEnvironment(n => env.GetValueOrDefault(n));
            Assert.Equal("/new", s.CacheDirectory);
            Assert.Equal("hf_old_name", s.Token);
            Assert.Equal("https://mirror.example", s.Endpoint);
            Assert.True(s.Offline);
            env["HF_TOKEN"] = "hf_new_name";
            Assert.Equal("hf_new_name", HubSettings.FromEnvironment(n => env.GetValueOrDefault(n)).Token);
        }
        finally
        {
            TestEnvironment.DeleteQuietly(home);
        }
    }

    [Fact]
    public void Write_failures_are_reported_as_disk_full_or_permission_denied()
    {
        // A real ENOSPC from the kernel: every write to /dev/full fails with it.
        var full = Assert.Throws<IOException>(() =>
        {
            using var stream = new FileStream("/dev/full", FileMode.Open, FileAccess.Write);
            stream.Write(new byte[100_000]);
            stream.Flush();
        });
        Assert.StartsWith("Disk full writing /c/x", HubStorageErrors.StorageError(full, "/c/x").Message, StringComparison.Ordinal);
        // errno values as .NET reports them on Unix (EDQUOT 122, EROFS 30).
        Assert.StartsWith("Disk full", HubStorageErrors.StorageError(new IOException("Disk quota exceeded", 122), "/c/x").Message, StringComparison.Ordinal);
        Assert.StartsWith("Read-only file system", HubStorageErrors.StorageError(new IOException("Read-only file system", 30), "/c/x").Message, StringComparison.Ordinal);
        Assert.StartsWith("Permission denied writing /c/x", HubStorageErrors.StorageError(new UnauthorizedAccessException("denied"), "/c/x").Message, StringComparison.Ordinal);
        Assert.Contains("HF_HUB_CACHE", HubStorageErrors.StorageError(new UnauthorizedAccessException("denied"), "/c/x").Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("onnx-community/paligemma2-3b-pt-448", "onnx-community/paligemma2-3b-pt-448", "main")]
    [InlineData("google/paligemma2-3b-pt-448@refs/pr/3", "google/paligemma2-3b-pt-448", "refs/pr/3")]
    [InlineData("a/b@0123456789abcdef0123456789abcdef01234567", "a/b", "0123456789abcdef0123456789abcdef01234567")]
    public void Repo_ids_parse(string text, string repo, string revision)
    {
        Assert.True(HubModelId.TryParse(text, out var id));
        Assert.Equal(repo, id.Repo);
        Assert.Equal(revision, id.Revision);
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("./models/tiny")]
    [InlineData("/models/tiny")]
    [InlineData("a/b/c")]
    [InlineData("a/../b")]
    [InlineData("a--b/c")]
    [InlineData("a/b@")]
    public void Paths_are_not_repo_ids(string text) => Assert.False(HubModelId.TryParse(text, out _));

    [Fact]
    public void Q4_selection_takes_configs_its_graphs_and_their_external_data_only()
    {
        var q4 = new ModelFileSelection(ModelDtype.Q4);
        Assert.True(q4.Matches("config.json"));
        Assert.True(q4.Matches("tokenizer_config.json"));
        Assert.True(q4.Matches("onnx/decoder_model_merged_q4.onnx"));
        Assert.True(q4.Matches("onnx/decoder_model_merged_q4.onnx_data"));
        Assert.True(q4.Matches("onnx/decoder_model_merged_q4.onnx_data_1"));
        Assert.False(q4.Matches("onnx/decoder_model_merged_q4f16.onnx"));
        Assert.False(q4.Matches("onnx/decoder_model_merged.onnx"));
        Assert.False(q4.Matches("onnx/decoder_model_merged_q4.onnx_datax"));
        Assert.False(q4.Matches("README.md"));
        Assert.False(q4.Matches("onnx/config.json"));

        var include = new ModelFileSelection(ModelDtype.Q4, ["*.md", "onnx/vision_encoder_fp1[6]*"]);
        Assert.True(include.Matches("README.md"));
        Assert.True(include.Matches("onnx/vision_encoder_fp16.onnx"));
        Assert.True(include.Matches("docs/sub/x.md")); // fnmatch: * crosses '/'
        Assert.True(new ModelFileSelection(null, all: true).Matches("anything/at/all.bin"));
    }
}

using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;

namespace PaliGemma.Hub.Tests;

/// <summary>Each Hub answer that stops a pull gets its own exception and a message that says what to do.</summary>
public sealed class HubErrorTests : HubTestBase
{
    [Fact]
    public async Task Gated_repo_without_token_asks_to_accept_the_licence_and_set_HF_TOKEN()
    {
        Hub.AddRepo(new FakeRepo("pgpipe-tests/gated", NewCommit(), Repo.Files) { GatedAllowedTokens = ["hf_granted"] });

        var ex = await Assert.ThrowsAsync<HubGatedRepoException>(() => PullAsync("pgpipe-tests/gated", token: null));

        Assert.Contains($"accept the licence at {Hub.Endpoint}/pgpipe-tests/gated", ex.Message, StringComparison.Ordinal);
        Assert.Contains("set HF_TOKEN", ex.Message, StringComparison.Ordinal);
        Assert.Contains("No token was sent", ex.Message, StringComparison.Ordinal);
        Assert.Contains(Hub.Seen, r => r.Path.StartsWith("/pgpipe-tests/gated/", StringComparison.Ordinal) && r.Authorization is null);
    }

    [Fact]
    public async Task Gated_repo_with_a_token_not_yet_granted_says_so_and_a_granted_token_pulls()
    {
        Hub.AddRepo(new FakeRepo("pgpipe-tests/gated", NewCommit(), Repo.Files) { GatedAllowedTokens = ["hf_granted"] });

        var ex = await Assert.ThrowsAsync<HubGatedRepoException>(() => PullAsync("pgpipe-tests/gated", token: "hf_pending"));
        Assert.Contains("token from HF_TOKEN has not been granted access (HTTP 403)", ex.Message, StringComparison.Ordinal);

        var ok = await PullAsync("pgpipe-tests/gated", token: "hf_granted");
        Assert.Equal(Fp32Files.Length, ok.Files.Count);
    }

    [Fact]
    public async Task Renamed_repo_follows_the_relative_redirect_with_the_token_and_caches_under_the_requested_name()
    {
        Hub.Rename("pgpipe-tests/old-name", RepoName);

        var result = await PullAsync("pgpipe-tests/old-name");

        Assert.Equal(Path.Combine(CacheDir, "models--pgpipe-tests--old-name", "snapshots", Repo.Commit), result.SnapshotDirectory);
        var first = Hub.Seen.First(r => r.Path == "/pgpipe-tests/old-name/resolve/main/config.json");
        var followed = Hub.Seen.First(r => r.Path == $"/{RepoName}/resolve/main/config.json");
        Assert.Equal("Bearer " + Token, first.Authorization);
        Assert.Equal("Bearer " + Token, followed.Authorization);
    }

    [Fact]
    public async Task Unknown_repo_revision_and_missing_config_each_have_their_own_error()
    {
        var repo = await Assert.ThrowsAsync<HubRepoNotFoundException>(() => PullAsync("pgpipe-tests/nope"));
        Assert.Contains("'pgpipe-tests/nope' not found", repo.Message, StringComparison.Ordinal);

        var revision = await Assert.ThrowsAsync<HubRevisionNotFoundException>(() => PullAsync(revision: "no-such-branch"));
        Assert.Contains("Revision 'no-such-branch' not found in model repo 'pgpipe-tests/tiny-paligemma'", revision.Message, StringComparison.Ordinal);

        var bare = Hub.AddRepo(new FakeRepo("pgpipe-tests/bare", NewCommit(), [new FakeFile("README.md", "x"u8.ToArray(), false)]));
        var entry = await Assert.ThrowsAsync<HubEntryNotFoundException>(() => PullAsync("pgpipe-tests/bare"));
        Assert.Contains("no config.json", entry.Message, StringComparison.Ordinal);
        // Like huggingface_hub: the absence is cached under .no_exist/<commit>/ and the ref is recorded.
        Assert.True(File.Exists(Path.Combine(CacheDir, "models--pgpipe-tests--bare", ".no_exist", bare.Commit, "config.json")));
        Assert.Equal(bare.Commit, File.ReadAllText(Path.Combine(CacheDir, "models--pgpipe-tests--bare", "refs", "main")));
    }

    [Fact]
    public async Task A_dtype_the_repo_lacks_is_refused_before_downloading_and_names_the_dtypes_it_has()
    {
        var ex = await Assert.ThrowsAsync<HubEntryNotFoundException>(() => PullAsync(dtype: ModelDtype.Q4));

        Assert.Contains("onnx/vision_encoder_q4.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Dtypes it has: fp32, fp16.", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Hub.Seen, r => r.Server == "cdn");
    }

    [Fact]
    public async Task Too_many_requests_waits_for_retry_after_then_succeeds()
    {
        Hub.Throttle["config.json"] = 429;

        await PullAsync();

        var heads = Hub.Seen.Where(r => r.Path.EndsWith("/resolve/main/config.json", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, heads.Count);
        Assert.True(heads[1].At - heads[0].At >= TimeSpan.FromMilliseconds(950), $"retried after {(heads[1].At - heads[0].At).TotalMilliseconds} ms; Retry-After asked for 1 s");
    }

    [Fact]
    public async Task Server_error_waits_for_the_ratelimit_reset_then_succeeds()
    {
        Hub.Throttle["onnx/embed_tokens.onnx"] = 503;

        await PullAsync();

        var heads = Hub.Seen.Where(r => r.Method == "HEAD" && r.Path.EndsWith("/onnx/embed_tokens.onnx", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, heads.Count);
        // FastOptions backs off 20 ms; only the RateLimit header's t=1 explains a 1 s wait.
        Assert.True(heads[1].At - heads[0].At >= TimeSpan.FromMilliseconds(950), $"retried after {(heads[1].At - heads[0].At).TotalMilliseconds} ms; RateLimit asked for 1 s");
    }

    [Fact]
    public void Server_delay_reads_retry_after_seconds_and_dates_and_the_ratelimit_reset()
    {
        using var seconds = new HttpResponseMessage((System.Net.HttpStatusCode)429);
        seconds.Headers.TryAddWithoutValidation("Retry-After", "12");
        Assert.Equal(TimeSpan.FromSeconds(12), HubResponses.ServerDelay(seconds));

        using var date = new HttpResponseMessage((System.Net.HttpStatusCode)503);
        date.Headers.TryAddWithoutValidation("Retry-After", DateTimeOffset.UtcNow.AddSeconds(30).ToString("r"));
        Assert.InRange(HubResponses.ServerDelay(date)!.Value.TotalSeconds, 25, 31);

        using var rateLimit = new HttpResponseMessage((System.Net.HttpStatusCode)429);
        rateLimit.Headers.TryAddWithoutValidation("RateLimit", "\"api\";r=0;t=42");
        Assert.Equal(TimeSpan.FromSeconds(42), HubResponses.ServerDelay(rateLimit));

        using var none = new HttpResponseMessage((System.Net.HttpStatusCode)500);
        Assert.Null(HubResponses.ServerDelay(none));
    }

    [Fact]
    public async Task Unreachable_hub_is_reported_as_unavailable()
    {
        using var client = new HubClient(Settings(endpoint: "http://127.0.0.1:9"), TestEnvironment.FastOptions());
        var ex = await Assert.ThrowsAsync<HubUnavailableException>(() =>
            new HubModelPuller(client, Cache).PullAsync(new HubModelId(RepoName, "main"), new ModelFileSelection(ModelDtype.Fp32), null, CancellationToken.None));
        Assert.Contains("HF_HUB_OFFLINE=1", ex.Message, StringComparison.Ordinal);
    }
}

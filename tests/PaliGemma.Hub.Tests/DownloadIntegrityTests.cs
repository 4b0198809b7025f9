using PaliGemma.ModelLayout;

namespace PaliGemma.Hub.Tests;

/// <summary>Dropped connections resume; wrong bytes are never kept.</summary>
public sealed class DownloadIntegrityTests : HubTestBase
{
    private const string Decoder = "onnx/decoder_model_merged.onnx";

    [Fact]
    public async Task Dropped_connection_resumes_in_a_later_run_with_range_from_the_incomplete_file_and_a_fresh_url()
    {
        Hub.DropAfter[Decoder] = 300_000;
        var once = TestEnvironment.FastOptions();
        once.MaxDownloadAttempts = 1;

        var ex = await Assert.ThrowsAsync<HubUnavailableException>(() => PullAsync(options: once));
        Assert.Contains("run the pull again to resume", ex.Message, StringComparison.Ordinal);

        var file = Repo.Files.Single(f => f.Path == Decoder);
        var incomplete = Cache.IncompletePath(RepoName, file.Sha256);
        var partial = File.ReadAllBytes(incomplete);
        Assert.InRange(partial.Length, 1, 300_000);
        Assert.Equal(file.Bytes.AsSpan(0, partial.Length).ToArray(), partial);
        Assert.False(File.Exists(Cache.BlobPath(RepoName, file.Sha256)));
        Assert.Null(HubModelResolver.FindCached(Cache, new HubModelId(RepoName, "main"), ModelDtype.Fp32));

        await PullAsync();

        var gets = Hub.Seen.Where(r => r.Server == "cdn" && r.Path.EndsWith(file.Sha256, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Equal($"bytes={partial.Length}-", gets[1].Range);
        Assert.NotEqual(gets[0].Query, gets[1].Query); // a new signed URL from a new HEAD
        Assert.Equal(file.Bytes, File.ReadAllBytes(Cache.BlobPath(RepoName, file.Sha256)));
        Assert.False(File.Exists(incomplete));
    }

    [Fact]
    public async Task Dropped_connection_resumes_within_the_same_pull()
    {
        Hub.DropAfter[Decoder] = 200_000;

        await PullAsync();

        var file = Repo.Files.Single(f => f.Path == Decoder);
        var heads = Hub.Seen.Count(r => r.Server == "hub" && r.Method == "HEAD" && r.Path.EndsWith("/" + Decoder, StringComparison.Ordinal));
        Assert.Equal(2, heads);
        var gets = Hub.Seen.Where(r => r.Server == "cdn" && r.Path.EndsWith(file.Sha256, StringComparison.Ordinal)).ToList();
        Assert.StartsWith("bytes=", gets[1].Range, StringComparison.Ordinal);
        Assert.Equal(file.Bytes, File.ReadAllBytes(Path.Combine(Cache.SnapshotDirectory(RepoName, Repo.Commit), "onnx", "decoder_model_merged.onnx")));
    }

    [Fact]
    public async Task Two_pulls_at_once_into_one_cache_fetch_each_blob_once()
    {
        var results = await Task.WhenAll(PullAsync(), PullAsync());

        Assert.Equal(results[0].SnapshotDirectory, results[1].SnapshotDirectory);
        // Per-blob locks, and a second look after the lock: the four LFS files cross the CDN once each.
        Assert.Equal(4, Hub.Seen.Count(r => r.Server == "cdn"));
        Assert.NotNull(HubModelResolver.FindCached(Cache, new HubModelId(RepoName, "main"), ModelDtype.Fp32));
    }

    [Fact]
    public async Task Bytes_that_do_not_match_sha256_are_deleted_and_never_linked()
    {
        const string embed = "onnx/embed_tokens.onnx";
        Hub.Corrupt[embed] = true;
        var file = Repo.Files.Single(f => f.Path == embed);

        var ex = await Assert.ThrowsAsync<HubIntegrityException>(() => PullAsync());

        Assert.Contains($"{RepoName}/{embed}", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"expected {file.Sha256}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("deleted", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Cache.BlobPath(RepoName, file.Sha256)));
        Assert.False(File.Exists(Cache.IncompletePath(RepoName, file.Sha256)));
        Assert.False(File.Exists(Cache.SnapshotPath(RepoName, Repo.Commit, embed)));
        Assert.Null(HubModelResolver.FindCached(Cache, new HubModelId(RepoName, "main"), ModelDtype.Fp32));

        Hub.Corrupt.Clear();
        await PullAsync();
        Assert.NotNull(HubModelResolver.FindCached(Cache, new HubModelId(RepoName, "main"), ModelDtype.Fp32));
    }

    [Fact]
    public async Task Verify_rehashes_every_blob_and_deletes_a_tampered_one()
    {
        await PullAsync();
        var vision = Repo.Files.Single(f => f.Path == "onnx/vision_encoder.onnx");
        var blob = Cache.BlobPath(RepoName, vision.Sha256);
        var bytes = File.ReadAllBytes(blob);
        bytes[10] ^= 1;
        File.WriteAllBytes(blob, bytes);

        var checks = await Cache.VerifyAsync(RepoName, null, CancellationToken.None);

        Assert.Equal(Fp32Files.Length, checks.Count);
        var bad = Assert.Single(checks, c => !c.Ok);
        Assert.Equal(vision.Sha256, bad.Etag);
        Assert.Equal(BlobHashKind.Sha256, bad.Kind);
        Assert.False(File.Exists(blob));
        Assert.Contains(checks, c => c.Ok && c.Kind == BlobHashKind.GitSha1);
    }
}

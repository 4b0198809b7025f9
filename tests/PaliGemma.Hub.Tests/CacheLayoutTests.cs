using System.Text;

namespace PaliGemma.Hub.Tests;

/// <summary>A pull leaves exactly the layout huggingface_hub leaves, and talks to the Hub and CDN as it does.</summary>
public sealed class CacheLayoutTests : HubTestBase
{
    [Fact]
    public async Task Fp32_pull_writes_blobs_by_etag_relative_snapshot_links_and_a_ref_without_newline()
    {
        var result = await PullAsync();

        Assert.Equal(Repo.Commit, result.Commit);
        var repoDir = Path.Combine(CacheDir, "models--pgpipe-tests--tiny-paligemma");
        Assert.Equal(Path.Combine(repoDir, "snapshots", Repo.Commit), result.SnapshotDirectory);
        Assert.Equal(Encoding.ASCII.GetBytes(Repo.Commit), File.ReadAllBytes(Path.Combine(repoDir, "refs", "main")));

        var snapshotFiles = Directory.EnumerateFiles(result.SnapshotDirectory, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(result.SnapshotDirectory, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Fp32Files, snapshotFiles);

        var expectedBlobs = new List<string>();
        foreach (var path in Fp32Files)
        {
            var served = Repo.Files.Single(f => f.Path == path);
            // Blob names from independent tools: git for regular files, coreutils for LFS files.
            var servedCopy = Path.Combine(TestEnvironment.NewTempDirectory(), "f");
            File.WriteAllBytes(servedCopy, served.Bytes);
            var etag = served.Lfs ? TestEnvironment.Sha256Sum(servedCopy) : TestEnvironment.GitHashObject(servedCopy);
            TestEnvironment.DeleteQuietly(Path.GetDirectoryName(servedCopy)!);
            expectedBlobs.Add(etag);

            var link = new FileInfo(Path.Combine(result.SnapshotDirectory, path));
            var depth = path.Count(c => c == '/');
            Assert.Equal(string.Concat(Enumerable.Repeat("../", depth + 2)) + "blobs/" + etag, link.LinkTarget);
            Assert.Equal(served.Bytes, File.ReadAllBytes(link.FullName));
            Assert.True(File.Exists(Path.Combine(CacheDir, ".locks", "models--pgpipe-tests--tiny-paligemma", etag + ".lock")), $"lock file of {path}");
        }

        var blobs = Directory.EnumerateFiles(Path.Combine(repoDir, "blobs")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expectedBlobs.Distinct().Order(StringComparer.Ordinal).ToArray(), blobs);
    }

    [Fact]
    public async Task Heads_are_not_redirected_to_the_cdn_and_the_token_never_reaches_it()
    {
        await PullAsync();

        var hub = Hub.Seen.Where(r => r.Server == "hub").ToList();
        var cdn = Hub.Seen.Where(r => r.Server == "cdn").ToList();
        Assert.All(hub, r => Assert.Equal("Bearer " + Token, r.Authorization));
        // LFS files are only ever HEADed on the Hub (their bytes come from the CDN); regular files are small and
        // come straight from the resolve URL.
        var lfsPaths = Repo.Files.Where(f => f.Lfs).Select(f => f.Path).ToHashSet();
        Assert.All(hub.Where(r => r.Method == "GET" && r.Path.Contains("/resolve/", StringComparison.Ordinal)),
            r => Assert.DoesNotContain(r.Path[(r.Path.IndexOf(Repo.Commit, StringComparison.Ordinal) + Repo.Commit.Length + 1)..], lfsPaths));
        Assert.Equal(4, hub.Count(r => r.Method == "HEAD" && lfsPaths.Any(p => r.Path.EndsWith("/" + p, StringComparison.Ordinal))));
        Assert.Equal(4, cdn.Count); // the four LFS files, each fetched once
        Assert.All(cdn, r =>
        {
            Assert.Null(r.Authorization);
            Assert.Equal("GET", r.Method);
            Assert.Contains("X-Amz-Signature=", r.Query, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Tree_listing_follows_link_header_pages()
    {
        await PullAsync();

        var pages = Hub.Seen.Where(r => r.Server == "hub" && r.Path.StartsWith("/api/models/", StringComparison.Ordinal)).ToList();
        var expectedPages = (Repo.Files.Count + Hub.PageSize - 1) / Hub.PageSize;
        Assert.Equal(expectedPages, pages.Count);
        Assert.All(pages, p => Assert.Contains("recursive=true", p.Query, StringComparison.Ordinal));
        Assert.Equal(expectedPages - 1, pages.Count(p => p.Query.Contains("cursor=", StringComparison.Ordinal)));
        // The tree is read at the commit the first HEAD pinned, not at the moving branch.
        Assert.All(pages, p => Assert.EndsWith("/tree/" + Repo.Commit, p.Path, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Second_pull_downloads_nothing_and_include_and_all_widen_the_selection()
    {
        await PullAsync();
        var cdnBefore = Hub.Seen.Count(r => r.Server == "cdn");

        var again = await PullAsync();
        Assert.Equal(0, again.DownloadedBytes);
        Assert.Equal(cdnBefore, Hub.Seen.Count(r => r.Server == "cdn"));

        var withReadme = await PullAsync(include: ["*.md"]);
        Assert.Contains(withReadme.Files, f => f.Path == "README.md");
        Assert.DoesNotContain(withReadme.Files, f => f.Path.Contains("fp16", StringComparison.Ordinal));

        var everything = await PullAsync(all: true);
        Assert.Equal(Repo.Files.Count, everything.Files.Count);
    }

    [Fact]
    public async Task A_pinned_commit_writes_no_ref_and_a_tag_writes_its_own()
    {
        Repo.Revisions.Add("v1.0");
        await PullAsync(revision: Repo.Commit);
        Assert.False(Directory.Exists(Path.Combine(CacheDir, "models--pgpipe-tests--tiny-paligemma", "refs")));

        await PullAsync(revision: "v1.0");
        Assert.Equal(Repo.Commit, File.ReadAllText(Path.Combine(CacheDir, "models--pgpipe-tests--tiny-paligemma", "refs", "v1.0")));
        Assert.Equal(Repo.Commit, Cache.ResolveCommit(RepoName, "v1.0"));
    }
}

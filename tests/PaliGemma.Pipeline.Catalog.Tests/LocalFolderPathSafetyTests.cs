using System.Security.Cryptography;
using System.Text;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>
/// A local source never reads outside its folder, whatever a listing finds or a (possibly crafted) job message names:
/// "..", other absolute paths, and symbolic links that leave the folder, at the file or at any folder on the way.
/// </summary>
public sealed class LocalFolderPathSafetyTests : IDisposable
{
    private const string Secret = "outside secret content";

    private readonly string _base = Directory.CreateTempSubdirectory("pgpipe-pathsafety-").FullName;
    private readonly string _root;
    private readonly string _outsideFile;
    private readonly string _outsideETag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Secret)));

    public LocalFolderPathSafetyTests()
    {
        // Given a catalog folder and, beside it, a folder with a file the catalog must never expose
        _root = Path.Combine(_base, "catalog");
        Directory.CreateDirectory(_root);
        var outside = Path.Combine(_base, "private");
        Directory.CreateDirectory(outside);
        _outsideFile = Path.Combine(outside, "secret.jpg");
        File.WriteAllText(_outsideFile, Secret);
        Write("ok.jpg", "inside");
    }

    public void Dispose() => Directory.Delete(_base, recursive: true);

    [Fact]
    public async Task Listing_skips_file_links_that_point_outside_or_nowhere_but_keeps_links_inside()
    {
        File.CreateSymbolicLink(Path.Combine(_root, "leak-absolute.jpg"), _outsideFile);
        File.CreateSymbolicLink(Path.Combine(_root, "leak-relative.jpg"), Path.Combine("..", "private", "secret.jpg"));
        File.CreateSymbolicLink(Path.Combine(_root, "dangling.jpg"), Path.Combine(_root, "gone.jpg"));
        File.CreateSymbolicLink(Path.Combine(_root, "alias.jpg"), "ok.jpg");
        Directory.CreateSymbolicLink(Path.Combine(_root, "private-folder"), Path.GetDirectoryName(_outsideFile)!);

        var items = await ListAsync(Source());

        Assert.Equal(["alias.jpg", "ok.jpg"], items.Select(i => i.Key));
        Assert.DoesNotContain(items, i => i.ETag == _outsideETag);
    }

    [Fact]
    public async Task Fetch_refuses_dot_dot_absolute_and_prefix_sibling_paths()
    {
        var source = Source();
        var sibling = _root + "-evil";
        Directory.CreateDirectory(sibling);
        File.WriteAllText(Path.Combine(sibling, "x.jpg"), Secret);

        string[] hostile =
        [
            Path.Combine(_root, "..", "private", "secret.jpg"),
            _root + "/sub/../../private/secret.jpg",
            _outsideFile,
            "/etc/passwd",
            Path.Combine(sibling, "x.jpg"),
            "../private/secret.jpg",
            "private/secret.jpg",
        ];
        foreach (var uri in hostile)
        {
            var error = await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync(uri, _outsideETag, CancellationToken.None));
            Assert.Contains(uri, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Fetch_refuses_links_that_leave_the_folder_at_the_file_or_any_folder_on_the_way()
    {
        var source = Source();
        var fileLink = Path.Combine(_root, "leak.jpg");
        File.CreateSymbolicLink(fileLink, _outsideFile);
        var folderLink = Path.Combine(_root, "nested", "up");
        Directory.CreateDirectory(Path.GetDirectoryName(folderLink)!);
        Directory.CreateSymbolicLink(folderLink, Path.Combine("..", ".."));
        var cycle = Path.Combine(_root, "cycle.jpg");
        File.CreateSymbolicLink(cycle, "cycle.jpg");

        foreach (var uri in new[] { fileLink, Path.Combine(folderLink, "private", "secret.jpg"), cycle })
        {
            var error = await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync(uri, _outsideETag, CancellationToken.None));
            Assert.Contains("symbolic link", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Fetch_through_a_link_that_stays_inside_reads_the_target()
    {
        var target = Write("real/photo.jpg", "abc");
        Directory.CreateSymbolicLink(Path.Combine(_root, "alias"), "real");
        var etag = Convert.ToHexStringLower(SHA256.HashData("abc"u8));

        var bytes = await Source().ReadAsync(Path.Combine(_root, "alias", "photo.jpg"), etag, CancellationToken.None);

        Assert.Equal("abc"u8.ToArray(), bytes);
        Assert.True(File.Exists(target));
    }

    [Fact]
    public async Task A_catalog_reached_through_a_linked_folder_still_reads_its_own_files()
    {
        // Given the catalog named by a link (as /data -> /mnt/disk1 on a host)
        var linkedRoot = Path.Combine(_base, "linked-catalog");
        Directory.CreateSymbolicLink(linkedRoot, _root);
        var source = new LocalFolderCatalogSource(linkedRoot, new CatalogOptions { LocalHashParallelism = 2, LocalHashCacheFolder = Path.Combine(_base, "cache") });

        var item = Assert.Single(await ListAsync(source));
        var bytes = await source.ReadAsync(item.Uri, item.ETag, CancellationToken.None);

        Assert.Equal("inside", Encoding.UTF8.GetString(bytes));
        await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync(Path.Combine(linkedRoot, "..", "private", "secret.jpg"), _outsideETag, CancellationToken.None));
    }

    private LocalFolderCatalogSource Source() => new(_root, new CatalogOptions { LocalHashParallelism = 2, LocalHashCacheFolder = Path.Combine(_base, "cache") });

    private string Write(string relative, string content)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    private static async Task<List<CatalogObject>> ListAsync(ICatalogSource source)
    {
        var items = new List<CatalogObject>();
        await foreach (var item in source.ListAsync(CatalogFilter.All, CancellationToken.None))
        {
            items.Add(item);
        }

        return items;
    }
}

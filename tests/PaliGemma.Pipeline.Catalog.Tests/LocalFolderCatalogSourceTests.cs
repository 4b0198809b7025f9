using System.Text;

namespace PaliGemma.Pipeline.Catalog.Tests;

public sealed class LocalFolderCatalogSourceTests : IDisposable
{
    // SHA-256("abc"), the FIPS 180-2 test vector.
    private const string AbcSha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    private readonly string _root = Directory.CreateTempSubdirectory("pgpipe-catalog-").FullName;

    // The hash cache of these folders lives and dies with the test, not in the user's ~/.cache.
    private readonly string _cache = Directory.CreateTempSubdirectory("pgpipe-catalog-cache-").FullName;

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_cache, recursive: true);
    }

    [Fact]
    public async Task Lists_recursively_in_utf8_byte_order_with_slash_keys()
    {
        // Given files whose order differs between UTF-16 ordinal, culture and UTF-8 byte order
        string[] names = ["😀.jpg", "\uE000.jpg", "é.jpg", "a/b.jpg", "a.jpg", "a-b.jpg", "B.jpg", "deep/x/y/z.png"];
        foreach (var name in names)
        {
            Write(name, name);
        }

        // When listing everything
        var keys = await KeysAsync(Source(), CatalogFilter.All);

        // Then keys follow UTF-8 byte order, worked by hand: 'B'(42) < "a-"(61 2D) < "a."(61 2E) < "a/"(61 2F)
        // < 'd'(64) < 'é'(C3 A9) < U+E000 (EE 80 80) < U+1F600 (F0 9F 98 80)
        Assert.Equal(["B.jpg", "a-b.jpg", "a.jpg", "a/b.jpg", "deep/x/y/z.png", "é.jpg", "\uE000.jpg", "😀.jpg"], keys);
    }

    [Fact]
    public async Task Objects_carry_absolute_uri_size_and_content_hash()
    {
        Write("sub/abc.bin", "abc");

        var item = Assert.Single(await ListAsync(Source(), CatalogFilter.All));

        Assert.Equal(Path.Combine(_root, "sub", "abc.bin"), item.Uri);
        Assert.Equal("sub/abc.bin", item.Key);
        Assert.Equal(AbcSha256, item.ETag);
        Assert.Equal(3, item.Size);
    }

    [Fact]
    public async Task Same_bytes_with_different_mtime_or_place_have_the_same_etag()
    {
        // Given identical content written at different times and places
        var first = Write("one.jpg", "identical bytes");
        var second = Write("nested/two.jpg", "identical bytes");
        File.SetLastWriteTimeUtc(first, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        File.SetLastWriteTimeUtc(second, new DateTime(2024, 6, 1, 0, 0, 0, DateTimeKind.Utc));
        Write("other.jpg", "different bytes");

        var items = (await ListAsync(Source(), CatalogFilter.All)).ToDictionary(o => o.Key);

        Assert.Equal(items["one.jpg"].ETag, items["nested/two.jpg"].ETag);
        Assert.NotEqual(items["one.jpg"].LastModified, items["nested/two.jpg"].LastModified);
        Assert.NotEqual(items["one.jpg"].ETag, items["other.jpg"].ETag);

        // And touching a file does not change its identity
        File.SetLastWriteTimeUtc(first, DateTime.UtcNow);
        var again = (await ListAsync(Source(), CatalogFilter.All)).Single(o => o.Key == "one.jpg");
        Assert.Equal(items["one.jpg"].ETag, again.ETag);
    }

    [Fact]
    public async Task Resume_after_any_key_yields_exactly_the_rest()
    {
        foreach (var name in new[] { "a.jpg", "a/1.jpg", "a/2/x.jpg", "b.jpg", "c/d/e.jpg", "c/f.jpg", "z.jpg" })
        {
            Write(name, name);
        }

        var source = Source();
        var all = await KeysAsync(source, CatalogFilter.All);
        for (var i = 0; i < all.Count; i++)
        {
            var rest = await KeysAsync(source, CatalogFilter.All, all[i]);
            Assert.Equal(all.Skip(i + 1), rest);
        }

        // A resume point that is not itself a key (e.g. a deleted file) still works.
        Assert.Equal(["a/2/x.jpg", "b.jpg", "c/d/e.jpg", "c/f.jpg", "z.jpg"], await KeysAsync(source, CatalogFilter.All, "a/10.jpg"));
        // A folder-like resume point sorts before the keys inside it (a proper prefix is smaller), as in S3.
        Assert.Equal(["c/d/e.jpg", "c/f.jpg", "z.jpg"], await KeysAsync(source, CatalogFilter.All, "c/d/"));
        Assert.Equal(["c/f.jpg", "z.jpg"], await KeysAsync(source, CatalogFilter.All, "c/d/zzz"));
    }

    [Fact]
    public async Task Filters_apply_to_relative_keys()
    {
        Write("photos/trip/2024-01.png", "1");
        Write("photos/trip/2023-01.png", "2");
        Write("photos/2024-02.png", "3");
        Write("photos/trip/2024-03.PNG", "44444");
        Write("docs/readme.txt", "5");

        var source = Source();

        Assert.Equal(["photos/trip/2024-01.png"], await KeysAsync(source, new CatalogFilter { Glob = "photos/*/2024-*.png" }));
        Assert.Equal(["photos/trip/2024-01.png", "photos/trip/2024-03.PNG"],
            await KeysAsync(source, new CatalogFilter { Prefix = "photos/trip/2024", Extensions = new HashSet<string> { "png" } }));
        Assert.Equal(["photos/trip/2024-03.PNG"], await KeysAsync(source, new CatalogFilter { MinSize = 2 }));
        Assert.Empty(await KeysAsync(source, new CatalogFilter { Prefix = "docs/", Glob = "photos/**" }));
    }

    [Fact]
    public async Task Symbolic_link_folders_are_not_followed()
    {
        Write("real/a.jpg", "a");
        Directory.CreateSymbolicLink(Path.Combine(_root, "loop"), _root);

        Assert.Equal(["real/a.jpg"], await KeysAsync(Source(), CatalogFilter.All));
    }

    [Fact]
    public async Task Stopping_early_does_not_leave_hashing_running()
    {
        for (var i = 0; i < 50; i++)
        {
            Write($"f{i:D2}.jpg", new string('x', i + 1));
        }

        var source = new LocalFolderCatalogSource(_root, new CatalogOptions { LocalHashParallelism = 8, LocalHashCacheFolder = _cache });
        var taken = new List<string>();
        await foreach (var item in source.ListAsync(CatalogFilter.All, CancellationToken.None))
        {
            taken.Add(item.Key);
            if (taken.Count == 3)
            {
                break;
            }
        }

        Assert.Equal(["f00.jpg", "f01.jpg", "f02.jpg"], taken);
    }

    [Fact]
    public async Task ReadAsync_returns_content_when_unchanged()
    {
        Write("x/abc.bin", "abc");
        var item = Assert.Single(await ListAsync(Source(), CatalogFilter.All));

        var bytes = await Source().ReadAsync(item.Uri, item.ETag, CancellationToken.None);

        Assert.Equal("abc"u8.ToArray(), bytes);
    }

    [Fact]
    public async Task ReadAsync_reports_changed_and_missing_files()
    {
        var changed = Write("changed.jpg", "before");
        var deleted = Write("deleted.jpg", "gone soon");
        var source = Source();
        var items = (await ListAsync(source, CatalogFilter.All)).ToDictionary(o => o.Key);

        File.WriteAllText(changed, "after!");
        File.Delete(deleted);

        var changedError = await Assert.ThrowsAsync<CatalogObjectChangedException>(() => source.ReadAsync(changed, items["changed.jpg"].ETag, CancellationToken.None));
        Assert.Equal(items["changed.jpg"].ETag, changedError.ExpectedETag);
        Assert.NotNull(changedError.ActualETag);
        Assert.Contains(changed, changedError.Message, StringComparison.Ordinal);

        // The current version reads with the hash of exactly its bytes (sha256 of "after!", computed here by hand).
        var current = await source.ReadCurrentAsync(changed, CancellationToken.None);
        Assert.Equal("after!"u8.ToArray(), current.Bytes);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("after!"u8.ToArray())), current.ETag);
        Assert.Equal(changedError.ActualETag, current.ETag);

        var missingError = await Assert.ThrowsAsync<CatalogObjectMissingException>(() => source.ReadAsync(deleted, items["deleted.jpg"].ETag, CancellationToken.None));
        Assert.Equal(deleted, missingError.Uri);
        await Assert.ThrowsAsync<CatalogObjectMissingException>(() => source.ReadCurrentAsync(deleted, CancellationToken.None));
    }

    [Fact]
    public async Task ReadAsync_refuses_paths_outside_the_catalog_and_oversized_files()
    {
        var inside = Write("big.bin", "0123456789ABC");
        var source = new LocalFolderCatalogSource(_root, new CatalogOptions { MaxObjectBytes = 10, LocalHashCacheFolder = _cache });

        await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync("/etc/hostname", AbcSha256, CancellationToken.None));
        await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync(Path.Combine(_root, "..", "elsewhere.jpg"), AbcSha256, CancellationToken.None));
        await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync("relative/path.jpg", AbcSha256, CancellationToken.None));
        var tooLarge = await Assert.ThrowsAsync<CatalogObjectTooLargeException>(() => source.ReadAsync(inside, AbcSha256, CancellationToken.None));
        Assert.Equal(13, tooLarge.Size);
    }

    private LocalFolderCatalogSource Source() => new(_root, new CatalogOptions { LocalHashParallelism = 4, LocalHashCacheFolder = _cache });

    private string Write(string relative, string content)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(content));
        return path;
    }

    private static async Task<List<CatalogObject>> ListAsync(ICatalogSource source, CatalogFilter filter, string? startAfter = null)
    {
        var items = new List<CatalogObject>();
        await foreach (var item in source.ListAsync(filter, startAfter, CancellationToken.None))
        {
            items.Add(item);
        }

        return items;
    }

    private static async Task<List<string>> KeysAsync(ICatalogSource source, CatalogFilter filter, string? startAfter = null) =>
        (await ListAsync(source, filter, startAfter)).Select(o => o.Key).ToList();
}

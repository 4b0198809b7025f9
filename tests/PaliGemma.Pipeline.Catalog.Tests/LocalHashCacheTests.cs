using System.Security.Cryptography;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>
/// The local hash cache: a nightly listing opens only the files whose size, mtime or identity changed. Opens are counted
/// by the kernel (inotify), not by the source, and hashes are checked against SHA-256 computed here.
/// </summary>
public sealed class LocalHashCacheTests : IDisposable
{
    private static readonly DateTime LongAgo = DateTime.UtcNow.AddHours(-3);

    private readonly string _root = Directory.CreateTempSubdirectory("pgpipe-hashcache-root-").FullName;
    private readonly string _cache = Directory.CreateTempSubdirectory("pgpipe-hashcache-").FullName;

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_cache, recursive: true);
    }

    [Fact]
    public async Task An_unchanged_file_is_not_opened_on_the_next_listing()
    {
        // Given 30 files in two folders, last written hours ago, listed once
        var files = Enumerable.Range(0, 30).Select(i => Write($"{(i % 2 == 0 ? "a" : "b")}/img-{i:D2}.jpg", 1000 + i, i, LongAgo)).ToList();
        using var opens = new InotifyOpenCounter(Path.Combine(_root, "a"), Path.Combine(_root, "b"));
        var first = await ListAsync(Source());
        Assert.Equal(files.Order(StringComparer.Ordinal), opens.Drain().Order(StringComparer.Ordinal));

        // When a new source (a new process: only the cache file carries over) lists the folder again
        var source = Source();
        var second = await ListAsync(source);

        // Then no file was opened, and every ETag is still the SHA-256 of the file's bytes
        Assert.Empty(opens.Drain());
        Assert.Equal(0, source.FilesHashed);
        Assert.Equal(30, source.HashesReused);
        Assert.Equal(first, second);
        Assert.All(second, o => Assert.Equal(Sha256(o.Uri), o.ETag));
    }

    [Fact]
    public async Task A_file_whose_size_or_mtime_changed_is_hashed_again()
    {
        // Given listed files
        var grown = Write("grown.jpg", 100, 1, LongAgo);
        var touched = Write("touched.jpg", 100, 2, LongAgo);
        var rewritten = Write("rewritten.jpg", 100, 3, LongAgo);
        var replaced = Write("replaced.jpg", 100, 4, LongAgo);
        Write("same.jpg", 100, 5, LongAgo);
        await ListAsync(Source());

        // When one grows, one only gets a new mtime, one is rewritten in place with the same size and a later mtime,
        // and one is replaced by another file (new inode) with the same size and the same mtime
        Write("grown.jpg", 101, 1, LongAgo);
        File.SetLastWriteTimeUtc(touched, LongAgo.AddMinutes(5));
        Write("rewritten.jpg", 100, 33, LongAgo.AddMinutes(7));
        var other = Path.Combine(_cache, "replacement.bin");
        File.WriteAllBytes(other, Content(100, 44));
        File.SetLastWriteTimeUtc(other, LongAgo);
        File.Move(other, replaced, overwrite: true);
        using var opens = new InotifyOpenCounter(_root);
        var items = await ListAsync(Source());

        // Then exactly those four are opened, and they carry the hashes of their new bytes
        Assert.Equal(new[] { grown, rewritten, replaced, touched }.Order(StringComparer.Ordinal), opens.Drain().Order(StringComparer.Ordinal));
        Assert.All(items, o => Assert.Equal(Sha256(o.Uri), o.ETag));
    }

    [Fact]
    public async Task A_file_hashed_within_the_racy_window_of_its_last_write_is_hashed_again()
    {
        // Given a file listed right after it was written (its mtime tick could still hide a same-size rewrite)
        var fresh = Write("fresh.jpg", 100, 1, null);
        await ListAsync(Source());

        // When it is listed again
        using var opens = new InotifyOpenCounter(_root);
        await ListAsync(Source());

        // Then its cached hash was not trusted
        Assert.Equal([fresh], opens.Drain());
    }

    [Fact]
    public async Task The_blind_spot_content_changed_with_size_and_mtime_forced_back_keeps_the_old_hash()
    {
        // Given a listed file
        var path = Write("edited.jpg", 100, 1, LongAgo);
        var before = Assert.Single(await ListAsync(Source()));

        // When its bytes are rewritten in place (same inode), same size, and its mtime is set back to the old value
        await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            await stream.WriteAsync(Content(100, 2));
        }

        File.SetLastWriteTimeUtc(path, LongAgo);
        var after = Assert.Single(await ListAsync(Source()));

        // Then the listing reports the old hash: this is the documented blind spot (a worker reading the file finds the
        // mismatch and records 'changed'); without the cache the new hash is seen
        Assert.Equal(before.ETag, after.ETag);
        Assert.NotEqual(Sha256(path), after.ETag);
        var uncached = Assert.Single(await ListAsync(new LocalFolderCatalogSource(_root, new CatalogOptions { LocalHashCache = false })));
        Assert.Equal(Sha256(path), uncached.ETag);
    }

    [Fact]
    public async Task Entries_of_deleted_files_are_dropped_once_their_folder_was_walked()
    {
        // Given two listed files, one then deleted
        Write("d/keep.jpg", 10, 1, LongAgo);
        var gone = Write("d/gone.jpg", 10, 2, LongAgo);
        var source = Source();
        await ListAsync(source);
        File.Delete(gone);

        // When the folder is listed again
        await ListAsync(Source());

        // Then only the surviving file has an entry
        using var cache = LocalHashCache.Open(source.HashCachePath!);
        Assert.Equal(["keep.jpg"], cache.LoadFolder("d/").Keys);
    }

    [Fact]
    public async Task A_cache_folder_inside_the_catalog_is_refused_with_a_clear_message_when_listing()
    {
        var inside = Path.Combine(_root, ".cache");
        var source = new LocalFolderCatalogSource(_root, new CatalogOptions { LocalHashCacheFolder = inside });

        var error = await Assert.ThrowsAsync<ArgumentException>(() => ListAsync(source));

        Assert.Contains("Catalog:LocalHashCacheFolder", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    private LocalFolderCatalogSource Source() => new(_root, new CatalogOptions { LocalHashParallelism = 4, LocalHashCacheFolder = _cache });

    private string Write(string relative, int size, int seed, DateTime? mtime)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Content(size, seed));
        if (mtime is { } m)
        {
            File.SetLastWriteTimeUtc(path, m);
        }

        return path;
    }

    private static byte[] Content(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

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

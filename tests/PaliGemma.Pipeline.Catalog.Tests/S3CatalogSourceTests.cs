using System.Text;
using Amazon.S3.Model;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Catalog.Tests;

public sealed class S3CatalogSourceTests(S3ServerFixture s3) : IClassFixture<S3ServerFixture>
{
    // Keys that break naive URL handling: spaces, '+', literal '%xx', unicode in several scripts, emoji, deep nesting,
    // and characters with meaning in URLs or shells.
    private static readonly string[] OddKeys =
    [
        "with space/a b.jpg",
        "plus+sign/1+1=2.jpg",
        "percent/100%25 literal%.jpg",
        "unicode/日本語/café.png",
        "emoji/😀 smile.jpg",
        "deeply/nested/prefix/with/many/levels/x.jpg",
        "symbols/semi;colon,comma&amp'quote(paren)!.jpg",
        "tilde~dash-under_score.jpg",
    ];

    [S3Fact]
    public async Task Odd_keys_round_trip_exactly()
    {
        // Given objects under awkward keys
        var bucket = await s3.CreateBucketAsync(nameof(Odd_keys_round_trip_exactly), CancellationToken.None);
        var contents = OddKeys.ToDictionary(k => k, k => Encoding.UTF8.GetBytes("content of " + k));
        foreach (var (key, content) in contents)
        {
            await s3.PutObjectAsync(bucket, key, content, CancellationToken.None);
        }

        // When listing and reading each listed URI
        var source = new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions());
        var listed = await ListAsync(source, CatalogFilter.All);

        // Then keys come back verbatim, URIs are s3://bucket/ + raw key, and each read fetches its own bytes
        Assert.Equal(OddKeys.Order(StringComparer.Ordinal), listed.Select(o => o.Key).Order(StringComparer.Ordinal));
        foreach (var item in listed)
        {
            Assert.Equal($"s3://{bucket}/{item.Key}", item.Uri);
            Assert.Equal(contents[item.Key], await source.ReadAsync(item.Uri, item.ETag, CancellationToken.None));
            Assert.DoesNotContain('"', item.ETag);
            Assert.Equal(contents[item.Key].Length, item.Size);
            Assert.InRange(item.LastModified, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(5));
        }
    }

    [S3Fact]
    public async Task Filters_and_root_prefix_shape_the_listing()
    {
        var bucket = await s3.CreateBucketAsync(nameof(Filters_and_root_prefix_shape_the_listing), CancellationToken.None);
        await PutAsync(bucket, "photos/2024/a.jpg", 10);
        await PutAsync(bucket, "photos/2024/b.PNG", 20);
        await PutAsync(bucket, "photos/2023/c.jpg", 30);
        await PutAsync(bucket, "photos/2024/big.jpg", 1000);
        await PutAsync(bucket, "photos2/d.jpg", 10);
        await PutAsync(bucket, "docs/readme.txt", 5);
        await PutAsync(bucket, "photos/folder-marker/", 0);

        var whole = new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions());
        Assert.Equal(["photos/2023/c.jpg", "photos/2024/big.jpg"],
            await KeysAsync(whole, new CatalogFilter { Glob = "photos/*/*.jpg", MinSize = 15 }));
        Assert.Equal(["photos/2024/a.jpg", "photos/2024/b.PNG"],
            await KeysAsync(whole, new CatalogFilter { Prefix = "photos/2024/", MaxSize = 100 }));
        Assert.Equal(["photos/2023/c.jpg", "photos/2024/a.jpg", "photos/2024/big.jpg", "photos2/d.jpg"],
            await KeysAsync(whole, new CatalogFilter { Extensions = new HashSet<string> { "JPG" } }));

        // A root prefix is a folder: "photos" lists photos/..., never photos2/..., and keys are relative to it.
        using var factory = new CatalogSourceFactory(s3.Client, new CatalogOptions());
        var photos = factory.Create($"s3://{bucket}/photos");
        Assert.Equal($"s3://{bucket}/photos/", photos.Root);
        var items = await ListAsync(photos, new CatalogFilter { Glob = "2024/*" });
        Assert.Equal(["2024/a.jpg", "2024/b.PNG", "2024/big.jpg"], items.Select(o => o.Key));
        Assert.Equal($"s3://{bucket}/photos/2024/a.jpg", items[0].Uri);
    }

    [S3Fact]
    public async Task ReadAsync_reports_deleted_and_overwritten_objects()
    {
        // Given two listed objects
        var bucket = await s3.CreateBucketAsync(nameof(ReadAsync_reports_deleted_and_overwritten_objects), CancellationToken.None);
        await PutAsync(bucket, "gone.jpg", 10);
        await PutAsync(bucket, "changed.jpg", 10);
        var source = new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions());
        var items = (await ListAsync(source, CatalogFilter.All)).ToDictionary(o => o.Key);

        // When one is deleted and the other overwritten with different bytes
        await s3.Client.DeleteObjectAsync(bucket, "gone.jpg");
        var newETag = await s3.PutObjectAsync(bucket, "changed.jpg", Encoding.UTF8.GetBytes("new content"), CancellationToken.None);

        // Then reads name what happened
        var missing = await Assert.ThrowsAsync<CatalogObjectMissingException>(
            () => source.ReadAsync(items["gone.jpg"].Uri, items["gone.jpg"].ETag, CancellationToken.None));
        Assert.Contains($"s3://{bucket}/gone.jpg", missing.Message, StringComparison.Ordinal);

        var changed = await Assert.ThrowsAsync<CatalogObjectChangedException>(
            () => source.ReadAsync(items["changed.jpg"].Uri, items["changed.jpg"].ETag, CancellationToken.None));
        Assert.Equal(items["changed.jpg"].ETag, changed.ExpectedETag);
        Assert.Equal(newETag, changed.ActualETag);

        // And the new version reads with its new ETag (quoted or not)
        Assert.Equal("new content"u8.ToArray(), await source.ReadAsync(items["changed.jpg"].Uri, newETag, CancellationToken.None));
        Assert.Equal("new content"u8.ToArray(), await source.ReadAsync(items["changed.jpg"].Uri, "\"" + newETag + "\"", CancellationToken.None));

        // And reading the current version gives those bytes with the ETag the server gave them
        var current = await source.ReadCurrentAsync(items["changed.jpg"].Uri, CancellationToken.None);
        Assert.Equal("new content"u8.ToArray(), current.Bytes);
        Assert.Equal(newETag, current.ETag);
        await Assert.ThrowsAsync<CatalogObjectMissingException>(() => source.ReadCurrentAsync(items["gone.jpg"].Uri, CancellationToken.None));
    }

    [S3Fact]
    public async Task ReadAsync_returns_the_bytes_the_server_hashed()
    {
        // Given a multi-megabyte object of random bytes (many socket reads), whose ETag the server computed as their MD5
        var bucket = await s3.CreateBucketAsync(nameof(ReadAsync_returns_the_bytes_the_server_hashed), CancellationToken.None);
        var content = new byte[3 * 1024 * 1024 + 17];
        new Random(15).NextBytes(content);
        var etag = await s3.PutObjectAsync(bucket, "big.bin", content, CancellationToken.None);
        var source = new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions());

        // When it is read, without the SDK's own MD5 check of the body
        var read = await source.ReadAsync($"s3://{bucket}/big.bin", etag, CancellationToken.None);

        // Then it is every byte that was stored, and the server's hash of them
        Assert.Equal(content, read);
#pragma warning disable CA5351 // S3 defines a plain object's ETag as the MD5 of its bytes; nothing here is security.
        Assert.Equal(etag, Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(read)));
#pragma warning restore CA5351
    }

    [S3Fact]
    public async Task ReadAsync_guards_size_and_catalog_boundaries()
    {
        var bucket = await s3.CreateBucketAsync(nameof(ReadAsync_guards_size_and_catalog_boundaries), CancellationToken.None);
        var etag = await PutAsync(bucket, "photos/eleven.bin", 11);
        var source = new S3CatalogSource(s3.Client, bucket, "photos/", new CatalogOptions { MaxObjectBytes = 10 });

        var tooLarge = await Assert.ThrowsAsync<CatalogObjectTooLargeException>(
            () => source.ReadAsync($"s3://{bucket}/photos/eleven.bin", etag, CancellationToken.None));
        Assert.Equal(11, tooLarge.Size);
        await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync($"s3://other-bucket/photos/eleven.bin", etag, CancellationToken.None));
        await Assert.ThrowsAsync<CatalogUriException>(() => source.ReadAsync($"s3://{bucket}/elsewhere/eleven.bin", etag, CancellationToken.None));
    }

    [S3Fact]
    public async Task Listing_a_missing_bucket_fails_with_its_name()
    {
        var source = new S3CatalogSource(s3.Client, "no-such-bucket-" + Guid.NewGuid().ToString("N")[..12], "", new CatalogOptions());
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ListAsync(source, CatalogFilter.All));
        Assert.Contains(source.Bucket, error.Message, StringComparison.Ordinal);
    }

    private async Task<string> PutAsync(string bucket, string key, int size) =>
        await s3.PutObjectAsync(bucket, key, Enumerable.Range(0, size).Select(i => (byte)(i * 7 + key.Length)).ToArray(), CancellationToken.None);

    internal static async Task<List<CatalogObject>> ListAsync(ICatalogSource source, CatalogFilter filter, string? startAfter = null)
    {
        var items = new List<CatalogObject>();
        await foreach (var item in source.ListAsync(filter, startAfter, CancellationToken.None))
        {
            items.Add(item);
        }

        return items;
    }

    private static async Task<List<string>> KeysAsync(ICatalogSource source, CatalogFilter filter) =>
        (await ListAsync(source, filter)).Select(o => o.Key).ToList();
}

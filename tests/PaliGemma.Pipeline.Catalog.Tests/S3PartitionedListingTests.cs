using System.Net;
using System.Reflection;
using Amazon.S3;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>Parallel listing's building blocks on a real S3 server: partitions that cover the listing exactly, and backoff on throttling.</summary>
public sealed class S3PartitionedListingTests(S3ServerFixture s3) : IClassFixture<S3ServerFixture>
{
    // No key sorts differently in UTF-8 byte order and in s3rver's own order ('-' against '/'), whose pagination then
    // skips keys; real S3 has no such quirk.
    private static readonly string[] Keys =
    [
        "a.jpg", "b/1.jpg", "b/2.jpg", "b/deep/3.jpg", "bc.jpg", "c/4.jpg", "photos/2024/5.jpg", "photos/2024/6.jpg", "photos/2025/7.jpg", "photos/x.jpg", "z.jpg",
    ];

    [S3Fact]
    public async Task Partitions_hold_every_listed_object_exactly_once_under_a_root_and_a_filter()
    {
        // Given objects at several levels
        var bucket = await s3.CreateBucketAsync("partitions", CancellationToken.None);
        foreach (var key in Keys)
        {
            await s3.PutObjectAsync(bucket, key, [1, 2, 3], CancellationToken.None);
        }

        foreach (var (root, filter) in new[] { ("", CatalogFilter.All), ("photos", CatalogFilter.All), ("", new CatalogFilter { Prefix = "photos/" }), ("", new CatalogFilter { Prefix = "b" }), ("", new CatalogFilter { Glob = "**/*.jpg", MinSize = 3 }) })
        {
            var source = new S3CatalogSource(s3.Client, bucket, root, new CatalogOptions());

            // When each partition is listed on its own
            var partitions = new List<CatalogPartition>();
            await foreach (var p in source.ListPartitionsAsync(filter, CancellationToken.None))
            {
                partitions.Add(p);
            }

            var union = new List<string>();
            foreach (var p in partitions)
            {
                await foreach (var o in source.ListAsync(filter, p, null, CancellationToken.None))
                {
                    union.Add(o.Key);
                }
            }

            // Then together they are exactly the one-stream listing, each key once
            var whole = (await S3CatalogSourceTests.ListAsync(source, filter)).Select(o => o.Key).ToList();
            Assert.NotEmpty(whole);
            Assert.Equal(whole.Order(StringComparer.Ordinal), union.Order(StringComparer.Ordinal));
            Assert.Equal(partitions.Select(p => p.Id).Distinct().Count(), partitions.Count);
            if (root == "photos" || filter.Prefix == "photos/")
            {
                // photos/2024/ and photos/2025/: the split goes below a level that is one folder and nothing else.
                Assert.Equal(["prefix:photos/2024/", "prefix:photos/2025/"], partitions.Where(p => !p.ObjectsOnly).Select(p => root.Length > 0 ? "prefix:photos/" + p.Prefix : p.Id));
            }
        }
    }

    [S3Fact]
    public async Task A_bucket_under_one_folder_is_split_below_it()
    {
        // Given a bucket whose every key is under in/
        var bucket = await s3.CreateBucketAsync("one-folder", CancellationToken.None);
        string[] keys = ["in/0/a.png", "in/0/b.png", "in/1/c.png", "in/bad/d.png", "in/top.png"];
        foreach (var key in keys)
        {
            await s3.PutObjectAsync(bucket, key, [1], CancellationToken.None);
        }

        // When it is partitioned and each partition listed
        var (partitions, listed) = await PartitionAsync(new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions()));

        // Then the split is below in/, and every key comes once
        Assert.Equal(["objects:in/", "prefix:in/0/", "prefix:in/1/", "prefix:in/bad/"], partitions.Select(p => p.Id));
        Assert.Equal(keys.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
    }

    [S3Fact]
    public async Task A_level_the_server_shows_empty_by_delimiter_is_listed_whole()
    {
        // Given keys two folders deep only, which s3rver's delimiter listing of the root leaves out entirely
        var bucket = await s3.CreateBucketAsync("deep-only", CancellationToken.None);
        string[] keys = ["x/0/a.png", "x/1/b.png"];
        foreach (var key in keys)
        {
            await s3.PutObjectAsync(bucket, key, [1], CancellationToken.None);
        }

        var (partitions, listed) = await PartitionAsync(new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions()));

        // Then no key is lost: whatever the server answered, the partitions still hold every key once
        Assert.Equal(keys, listed.Order(StringComparer.Ordinal));
        Assert.NotEmpty(partitions);
    }

    private static async Task<(List<CatalogPartition> Partitions, List<string> Keys)> PartitionAsync(S3CatalogSource source)
    {
        var partitions = new List<CatalogPartition>();
        await foreach (var p in source.ListPartitionsAsync(CatalogFilter.All, CancellationToken.None))
        {
            partitions.Add(p);
        }

        var keys = new List<string>();
        foreach (var p in partitions)
        {
            await foreach (var o in source.ListAsync(CatalogFilter.All, p, null, CancellationToken.None))
            {
                keys.Add(o.Key);
            }
        }

        return (partitions, keys);
    }

    [S3Fact]
    public async Task A_partition_resumes_strictly_after_its_last_key()
    {
        var bucket = await s3.CreateBucketAsync("partition-resume", CancellationToken.None);
        foreach (var key in Keys)
        {
            await s3.PutObjectAsync(bucket, key, [1], CancellationToken.None);
        }

        var source = new S3CatalogSource(s3.Client, bucket, "", new CatalogOptions { ListPageSize = 1 });
        var keys = new List<string>();
        await foreach (var o in source.ListAsync(CatalogFilter.All, new CatalogPartition("photos/", false), "photos/2024/5.jpg", CancellationToken.None))
        {
            keys.Add(o.Key);
        }

        Assert.Equal(["photos/2024/6.jpg", "photos/2025/7.jpg", "photos/x.jpg"], keys);
    }

    [S3Fact]
    public async Task SlowDown_and_503_answers_are_retried_with_backoff_and_the_listing_completes()
    {
        // Given a server that throttles the first three ListObjectsV2 requests
        var bucket = await s3.CreateBucketAsync("throttled", CancellationToken.None);
        foreach (var key in Keys)
        {
            await s3.PutObjectAsync(bucket, key, [1], CancellationToken.None);
        }

        var client = ThrottlingS3Proxy.Wrap(s3.Client, failures: 3);
        var log = new RecordingLogger<S3CatalogSource>();
        var source = new S3CatalogSource(client, bucket, "", new CatalogOptions { ListRetryInitialDelayMs = 20 }, log);

        // When listing
        var keys = (await S3CatalogSourceTests.ListAsync(source, CatalogFilter.All)).Select(o => o.Key).ToList();

        // Then every key arrives, after three logged retries
        Assert.Equal(Keys.Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, log.Messages.Count(m => m.EventName == "S3ListThrottled"));

        // And a store that never stops throttling fails the listing once the retries are spent
        var stubborn = new S3CatalogSource(ThrottlingS3Proxy.Wrap(s3.Client, failures: 100), bucket, "", new CatalogOptions { ListRetryInitialDelayMs = 1, ListRetryLimit = 2 });
        var error = await Assert.ThrowsAsync<AmazonS3Exception>(() => S3CatalogSourceTests.ListAsync(stubborn, CatalogFilter.All));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
    }

    /// <summary>
    /// A real client whose first <c>failures</c> ListObjectsV2 calls get the answer S3 gives an overloaded prefix
    /// (503 SlowDown); s3rver never throttles, so the fault is injected in front of it.
    /// </summary>
    public class ThrottlingS3Proxy : DispatchProxy
    {
        private IAmazonS3 _inner = null!;
        private int _failuresLeft;

        public static IAmazonS3 Wrap(IAmazonS3 inner, int failures)
        {
            var client = Create<IAmazonS3, ThrottlingS3Proxy>();
            var proxy = (ThrottlingS3Proxy)(object)client;
            proxy._inner = inner;
            proxy._failuresLeft = failures;
            return client;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            ArgumentNullException.ThrowIfNull(targetMethod);
            if (targetMethod.Name == nameof(IAmazonS3.ListObjectsV2Async) && Interlocked.Decrement(ref _failuresLeft) >= 0)
            {
                throw new AmazonS3Exception("Please reduce your request rate.", Amazon.Runtime.ErrorType.Receiver, "SlowDown", "test", HttpStatusCode.ServiceUnavailable);
            }

            try
            {
                return targetMethod.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }
}

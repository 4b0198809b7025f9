using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>One bucket of 2,500 small objects, uploaded once for all pagination scenarios.</summary>
public sealed class LargeBucketFixture(IMessageSink diagnostics) : IAsyncLifetime
{
    public const int Count = 2500;

    private readonly IMessageSink _diagnostics = diagnostics;

    public S3ServerFixture S3 { get; } = new(diagnostics);

    public string Bucket { get; private set; } = "";

    // Zero-padded so the byte order S3 lists in is also numeric order: key i sits at index i.
    public static string KeyOf(int i) => $"img/{i:D5}.jpg";

    public async Task InitializeAsync()
    {
        await S3.InitializeAsync();
        if (S3.SkipReason is not null)
        {
            return;
        }

        try
        {
            var watch = Stopwatch.StartNew();
            Bucket = await S3.CreateBucketAsync("pagination", CancellationToken.None);
            await S3.PutObjectsAsync(Bucket, Enumerable.Range(0, Count).Select(i => (KeyOf(i), BitConverter.GetBytes(i))), parallelism: 16, CancellationToken.None);
            _diagnostics.OnMessage(new DiagnosticMessage($"LargeBucketFixture: uploaded {Count} objects in {watch.Elapsed.TotalSeconds:F1} s"));
        }
        catch (ServiceUnavailableException)
        {
            // Rethrown with its context by the first test that touches S3.Client.
        }
    }

    public Task DisposeAsync() => S3.DisposeAsync();
}

public sealed class S3PaginationTests(LargeBucketFixture bucket) : IClassFixture<LargeBucketFixture>
{
    [S3Fact]
    public async Task Lists_every_key_across_pages_with_continuation_tokens()
    {
        // Given 2,500 objects and pages of 1,000
        var (client, counter) = CountingS3Proxy.Wrap(bucket.S3.Client);
        var log = new RecordingLogger<S3CatalogSource>();
        var source = new S3CatalogSource(client, bucket.Bucket, "", new CatalogOptions { ListPageSize = 1000 }, log);

        // When listing everything
        var keys = (await S3CatalogSourceTests.ListAsync(source, CatalogFilter.All)).Select(o => o.Key).ToList();

        // Then every key arrives once, in order, over three requests whose progress is logged
        Assert.Equal(Enumerable.Range(0, LargeBucketFixture.Count).Select(LargeBucketFixture.KeyOf), keys);
        Assert.Equal(3, counter.ListCalls);
        Assert.Equal(
            ["Listed page 1 of s3://" + bucket.Bucket + "/: 1000 keys so far, 1000 matched",
             "Listed page 2 of s3://" + bucket.Bucket + "/: 2000 keys so far, 2000 matched",
             "Listed page 3 of s3://" + bucket.Bucket + "/: 2500 keys so far, 2500 matched"],
            log.Messages.Where(m => m.EventName == "S3PageListed").Select(m => m.Text));
    }

    [S3Fact]
    public async Task Yields_objects_as_soon_as_the_first_page_arrives()
    {
        var (client, counter) = CountingS3Proxy.Wrap(bucket.S3.Client);
        var source = new S3CatalogSource(client, bucket.Bucket, "", new CatalogOptions { ListPageSize = 1000 });

        await using var items = source.ListAsync(CatalogFilter.All, CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await items.MoveNextAsync());

        Assert.Equal(LargeBucketFixture.KeyOf(0), items.Current.Key);
        Assert.Equal(1, counter.ListCalls);
    }

    [S3Fact]
    public async Task Resumes_after_a_crash_without_gaps_or_duplicates()
    {
        var source = new S3CatalogSource(bucket.S3.Client, bucket.Bucket, "", new CatalogOptions { ListPageSize = 1000 });

        // Given an enumeration that stopped after 1,234 objects
        var firstRun = new List<string>();
        await foreach (var item in source.ListAsync(CatalogFilter.All, CancellationToken.None))
        {
            firstRun.Add(item.Key);
            if (firstRun.Count == 1234)
            {
                break;
            }
        }

        // When resuming after the last key it recorded
        var (client, counter) = CountingS3Proxy.Wrap(bucket.S3.Client);
        var resumed = new S3CatalogSource(client, bucket.Bucket, "", new CatalogOptions { ListPageSize = 1000 });
        var secondRun = (await S3CatalogSourceTests.ListAsync(resumed, CatalogFilter.All, firstRun[^1])).Select(o => o.Key).ToList();

        // Then the two runs together are the catalog exactly once, and the resumed run skipped the listed pages
        Assert.Equal(LargeBucketFixture.KeyOf(1234), secondRun[0]);
        Assert.Equal(Enumerable.Range(0, LargeBucketFixture.Count).Select(LargeBucketFixture.KeyOf), firstRun.Concat(secondRun));
        Assert.Equal(2, counter.ListCalls);
    }

    [S3Fact]
    public async Task Glob_filters_across_pages_with_a_server_side_prefix()
    {
        var source = new S3CatalogSource(bucket.S3.Client, bucket.Bucket, "", new CatalogOptions { ListPageSize = 1000 });

        // img/0??9?.jpg: keys 00090..00099, 00190..00199, ..., 02490..02499 -> 25 tens of 10
        var keys = (await S3CatalogSourceTests.ListAsync(source, new CatalogFilter { Glob = "img/0??9?.jpg" })).Select(o => o.Key).ToList();

        var expected = Enumerable.Range(0, LargeBucketFixture.Count).Where(i => i / 10 % 10 == 9).Select(LargeBucketFixture.KeyOf);
        Assert.Equal(expected, keys);
        Assert.Equal(250, keys.Count);
    }
}

/// <summary>Keeps formatted log messages with their event names, to assert on progress logging.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly List<(string EventName, string Text)> _messages = [];

    public IReadOnlyList<(string EventName, string Text)> Messages
    {
        get
        {
            lock (_messages)
            {
                return _messages.ToList();
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_messages)
        {
            _messages.Add((eventId.Name ?? "", formatter(state, exception)));
        }
    }
}

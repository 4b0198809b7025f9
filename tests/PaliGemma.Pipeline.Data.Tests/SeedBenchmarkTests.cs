using System.Diagnostics;
using System.Globalization;
using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Seeds a store the way a producer plus workers do, one listed page at a time: RecordListedPageAsync with
/// 1,000 run items, then WriteBatchAsync with 2,000 results (two tasks) and 1,000 images. The two calls are
/// timed separately so a slow path shows which statement it is. Skipped unless PGPIPE_BENCH=1; the page
/// count comes from PGPIPE_BENCH_PAGES (default 20, i.e. 20k objects). It asserts only that every row landed.
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class SeedBenchmarkTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private const int PageSize = 1000;
    private static readonly string[] Tasks = ["caption en", "detect car"];

    [SkippableFact]
    public async Task Sqlite_seed_rate()
    {
        SkipUnlessBenchmark();
        using var sqlite = new SqliteFixture();
        await SeedAsync(DatabaseProvider.Sqlite, sqlite.ConnectionString);
    }

    [SkippableFact]
    public async Task Postgres_seed_rate()
    {
        SkipUnlessBenchmark();
        Skip.If(postgres.SkipReason is not null, postgres.SkipReason);
        postgres.EnsureAvailable();
        await SeedAsync(DatabaseProvider.Postgres, await postgres.CreateDatabaseAsync(CancellationToken.None));
    }

    private static void SkipUnlessBenchmark() =>
        Skip.IfNot(Environment.GetEnvironmentVariable("PGPIPE_BENCH") == "1", "Benchmark: set PGPIPE_BENCH=1 to run.");

    private async Task SeedAsync(DatabaseProvider provider, string connectionString)
    {
        var ct = CancellationToken.None;
        var pages = int.TryParse(Environment.GetEnvironmentVariable("PGPIPE_BENCH_PAGES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) && p > 0 ? p : 20;
        var store = Stores.Create(provider, connectionString);
        await store.MigrateAsync(ct);
        var run = await store.CreateRunAsync(new RunDefinition("seed-bench", "bench://seed/", "paligemma2-3b-pt-448", Tasks), ct);

        var listing = new Stopwatch();
        var writing = new Stopwatch();
        for (var page = 0; page < pages; page++)
        {
            var objects = Enumerable.Range(page * PageSize, PageSize)
                .Select(i => new ObjectVersion($"bench://seed/images/{i:D8}.jpg", "etag-" + i.ToString(CultureInfo.InvariantCulture)))
                .ToArray();
            var items = objects.Select(o => new RunItemRecord(o.Uri, o.ETag, 123_456, true)).ToArray();
            var results = objects.SelectMany((o, i) => Tasks.Select(t => new ResultRecord(
                o.Uri, o.ETag, run.Model, t,
                $"a photograph of item {page}-{i} showing a red car parked beside a brick wall under a cloudy sky",
                t == Tasks[1] ? """[{"label":"car","x0":0.1,"y0":0.2,"x1":0.5,"y1":0.6}]""" : null,
                266, 18, 42.5, run.Id))).ToArray();
            var images = objects.Select(o => new ImageRecord(o.Uri, o.ETag, 640, 480, 123_456)).ToArray();

            var t0 = listing.Elapsed;
            listing.Start();
            await store.RecordListedPageAsync(run.Id, items, objects[^1].Uri, ct);
            listing.Stop();
            var t1 = writing.Elapsed;
            writing.Start();
            await store.WriteBatchAsync(new ResultBatch(results, [], images), ct);
            writing.Stop();
            if (page == 0 || page == pages - 1 || (page + 1) % 10 == 0)
            {
                output.WriteLine($"{provider} page {page + 1}: list {(listing.Elapsed - t0).TotalMilliseconds:F0} ms, write {(writing.Elapsed - t1).TotalMilliseconds:F0} ms");
            }
        }

        var objectsTotal = pages * PageSize;
        output.WriteLine($"{provider}: {pages} pages of {PageSize} objects");
        output.WriteLine($"{provider} RecordListedPageAsync: {objectsTotal / listing.Elapsed.TotalSeconds:F0} run items/s ({listing.Elapsed.TotalSeconds:F2} s)");
        output.WriteLine($"{provider} WriteBatchAsync: {objectsTotal * Tasks.Length / writing.Elapsed.TotalSeconds:F0} results/s ({writing.Elapsed.TotalSeconds:F2} s, plus {objectsTotal} images)");
        output.WriteLine($"{provider} total: {objectsTotal / (listing.Elapsed + writing.Elapsed).TotalSeconds:F0} objects/s");

        var status = await store.GetRunStatusAsync(run.Id, TimeSpan.FromDays(1), ct);
        Assert.Equal(objectsTotal, status.Listed);
        Assert.Equal(objectsTotal * Tasks.Length, status.Done);
    }
}

using System.Diagnostics;
using System.Globalization;

using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Benchmarks;

/// <summary>Outcome of <see cref="StoreBenchmark.RunAsync"/>.</summary>
internal sealed record StoreBenchmarkResult(DatabaseProvider Provider, int Rows, int BatchSize, int Writers, TimeSpan Elapsed, string UriPrefix)
{
    /// <summary>Committed result rows per second over the whole run.</summary>
    public double RowsPerSecond => Rows / Elapsed.TotalSeconds;
}

/// <summary>
/// Measures the batch upsert path a worker uses (<see cref="ResultStore.WriteBatchAsync"/>) with synthetic
/// caption-sized rows. For <c>pgpipe-bench pipeline</c>; not a unit test. Writes rows under bench://&lt;random&gt;/ URIs
/// into the store it is given, which the benchmark builds only from its explicit --db scratch database.
/// </summary>
internal static class StoreBenchmark
{
    /// <summary>Writes <paramref name="rows"/> results in batches from <paramref name="writers"/> concurrent writers.</summary>
    public static async Task<StoreBenchmarkResult> RunAsync(ResultStore store, int rows, int batchSize, int writers, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        if (store.Provider == DatabaseProvider.Sqlite)
        {
            // SQLite has one writer; concurrent writers would only measure lock waits.
            writers = 1;
        }

        var tag = Guid.NewGuid().ToString("N");
        var batches = Enumerable.Range(0, (rows + batchSize - 1) / batchSize)
            .Select(b => Enumerable.Range(b * batchSize, Math.Min(batchSize, rows - (b * batchSize))).Select(i => Row(tag, i)).ToArray())
            .ToArray();
        var next = -1;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < batches.Length)
            {
                await store.WriteBatchAsync(new ResultBatch(batches[index], [], []), cancellationToken);
            }
        }));
        stopwatch.Stop();
        return new StoreBenchmarkResult(store.Provider, rows, batchSize, writers, stopwatch.Elapsed, $"bench://{tag}/");
    }

    private static ResultRecord Row(string tag, int i) =>
        new(
            $"bench://{tag}/images/{i:D8}.jpg",
            "etag-" + i.ToString(CultureInfo.InvariantCulture),
            "paligemma2-3b-pt-448",
            (i % 2 == 0) ? "caption en" : "detect car",
            $"a photograph of item {i} showing a red car parked beside a brick wall under a cloudy sky",
            (i % 2 == 0) ? null : """[{"label":"car","x0":0.1,"y0":0.2,"x1":0.5,"y1":0.6}]""",
            266,
            18,
            42.5,
            null);
}

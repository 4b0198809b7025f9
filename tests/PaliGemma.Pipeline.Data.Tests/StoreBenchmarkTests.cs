using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Runs <see cref="StoreBenchmark"/> against the test Postgres and prints the rate. Not a timed test and
/// skipped unless PGPIPE_BENCH=1 (it only asserts that every row landed).
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class StoreBenchmarkTests(PostgresFixture fixture, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    [SkippableFact]
    public async Task Postgres_batch_upsert_rate()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("PGPIPE_BENCH") == "1", "Benchmark: set PGPIPE_BENCH=1 to run.");
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var store = Stores.Create(DatabaseProvider.Postgres, fixture.ConnectionString);
        await store.MigrateAsync(CancellationToken.None);

        foreach (var (batch, writers) in new[] { (64, 1), (64, 4), (256, 4), (1000, 4) })
        {
            var result = await StoreBenchmark.RunAsync(store, 40_000, batch, writers, CancellationToken.None);
            output.WriteLine($"postgres: {result.Rows} rows, batch {result.BatchSize}, {result.Writers} writer(s): {result.RowsPerSecond:F0} rows/s ({result.Elapsed.TotalSeconds:F2} s)");
        }

        var feed = await FeedPolling.ReadAtLeastAsync(store, ChangeCursor.Start, 160_000, CancellationToken.None, 10_000);
        Assert.Equal(160_000, feed.Rows.Count);
    }
}

using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// Opt-in (PGPIPE_BENCH=1; PGPIPE_BENCH_OBJECTS sets the size, default 20000): exports a large SQLite run in both
/// formats through the CLI and prints rows per second and the managed-heap peak during the export (garbage
/// included, so it is an upper bound). Asserts only the exported line count: the numbers are for reading, and a
/// memory bound that holds on a loaded 2-core machine would be too loose to mean anything.
/// </summary>
[Trait("Category", "Benchmark")]
public sealed class ExportScaleTests(ITestOutputHelper output) : IDisposable
{
    private static readonly int Objects = int.TryParse(Environment.GetEnvironmentVariable("PGPIPE_BENCH_OBJECTS"), out var n) && n >= 1000 ? n / 1000 * 1000 : 20_000;
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-cli-scale-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [SkippableFact]
    public async Task Export_of_a_large_run_streams_with_flat_memory()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("PGPIPE_BENCH") == "1", "Opt-in benchmark: set PGPIPE_BENCH=1.");
        var ct = CancellationToken.None;
        var db = Path.Combine(_folder, "scale.db");
        var store = new ResultStore(
            new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Sqlite, ConnectionString = "Data Source=" + db })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        await store.MigrateAsync(ct);
        var run = await store.CreateRunAsync(new RunDefinition("big", "s3://big/", SeededStore.Model, [SeededStore.Caption, SeededStore.Detect]), ct);
        var seed = Stopwatch.StartNew();
        for (var page = 0; page < Objects / 1000; page++)
        {
            var uris = Enumerable.Range(page * 1000, 1000).Select(i => string.Create(CultureInfo.InvariantCulture, $"s3://big/{i:D7}.jpg")).ToList();
            await store.RecordListedPageAsync(run.Id, uris.Select(u => new RunItemRecord(u, "e", 1, true)).ToList(), uris[^1], ct);
            await store.WriteBatchAsync(new ResultBatch(
                uris.SelectMany(u => new[]
                {
                    new ResultRecord(u, "e", SeededStore.Model, SeededStore.Caption, "a cat on a sofa next to a dog", null, 1030, 9, 100, run.Id),
                    new ResultRecord(u, "e", SeededStore.Model, SeededStore.Detect, "cat ; dog",
                        """[{"label":"cat","x1":1,"y1":2,"x2":30,"y2":40},{"label":"dog","x1":50,"y1":60,"x2":70,"y2":80}]""", 1030, 9, 100, run.Id),
                }).ToList(),
                [],
                uris.Select(u => new ImageRecord(u, "e", 640, 480, 1)).ToList()), ct);
        }

        output.WriteLine($"seeded {Objects} objects x 2 tasks in {seed.Elapsed.TotalSeconds:F1} s");
        foreach (var format in new[] { "jsonl", "coco" })
        {
            var file = Path.Combine(_folder, "out." + format);
            GC.Collect();
            var before = GC.GetTotalMemory(true);
            long peak = before;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peak = Math.Max(peak, GC.GetTotalMemory(false));
                    await Task.Delay(5);
                }
            });
            var watch = Stopwatch.StartNew();
            var result = await CliRunner.RunAsync("export", "big", "--format", format, "--out", file, "--db", db);
            watch.Stop();
            await sampling.CancelAsync();
            await sampler;

            Assert.True(result.ExitCode == 0, result.ToString());
            var rows = 2.0 * Objects;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{format}: {rows / watch.Elapsed.TotalSeconds:F0} rows/s, {new FileInfo(file).Length / 1e6:F1} MB, managed heap peak +{(peak - before) / 1e6:F1} MB"));
            if (format == "jsonl")
            {
                Assert.Equal(2 * Objects, File.ReadLines(file).Count());
            }
        }
    }
}

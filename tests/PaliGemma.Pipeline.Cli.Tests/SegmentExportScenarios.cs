using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Masks;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// Segment results with masks as the worker stores them (results.boxes entries with <c>"mask": {"size": [h, w],
/// "counts"}</c>) come out of <c>pgpipe export</c>: COCO gets segmentation, mask area and bbox; JSONL keeps the mask.
/// Per provider, because Postgres re-serialises jsonb.
/// </summary>
public abstract class SegmentExportScenarios
{
    private const string Model = "paligemma2-3b-mix-448";
    private const string Segment = "segment cat ; dog";

    // 4 x 3 image (w 4, h 3). Cat: box (1, 0)-(3, 2); mask pixels (1,0), (1,1), (2,1) -> column-major positions 3, 4, 7
    // -> runs 3 zeros, 2 ones, 2 zeros, 1 one, 4 zeros. From the fourth run on each is written minus the run two
    // before: 1 - 2 = -1 -> one group 31 (sign bit set) -> 'O'; 4 - 2 = 2 -> '2'. Counts "322O2", area 3.
    // Dog: box without a mask (decoded without the decoder, or empty) -> plain bbox area.
    private const string CatCounts = "322O2";
    private static readonly string Boxes =
        """[{"label":"cat","x1":1,"y1":0,"x2":3,"y2":2,"mask":{"size":[3,4],"counts":""" + "\"" + CatCounts + "\"" +
        """}},{"label":"dog","x1":0.5,"y1":1,"x2":4,"y2":3}]""";

    protected abstract Task<string> CreateStoreAsync(Func<ResultStore, Task> seed);

    [SkippableFact]
    public async Task Coco_export_writes_rle_segmentation_mask_area_and_bbox()
    {
        var db = await SeedAsync();

        var result = await CliRunner.RunAsync("export", "seg", "--format", "coco", "--db", db);

        Assert.True(result.ExitCode == 0, result.ToString());
        var annotations = JsonNode.Parse(result.Stdout)!["annotations"]!.AsArray();
        Assert.Equal(2, annotations.Count);
        var cat = annotations[0]!;
        Assert.Equal([1.0, 0, 2, 2], cat["bbox"]!.AsArray().Select(v => (double)v!).ToArray());
        Assert.Equal(3.0, (double)cat["area"]!);
        Assert.Equal([3, 4], cat["segmentation"]!["size"]!.AsArray().Select(v => (int)v!).ToArray());
        Assert.Equal(CatCounts, (string)cat["segmentation"]!["counts"]!);
        var dog = annotations[1]!;
        Assert.Null(dog["segmentation"]);
        Assert.Equal(3.5 * 2, (double)dog["area"]!);
        // The hand-worked counts are what the encoder writes for that mask.
        Assert.Equal(CatCounts, CocoRle.FromRowMajor([0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0], 3, 4).Counts);
    }

    [SkippableFact]
    public async Task Jsonl_export_keeps_the_mask_beside_the_box_keys()
    {
        var db = await SeedAsync();

        var result = await CliRunner.RunAsync("export", "seg", "--format", "jsonl", "--db", db);

        Assert.True(result.ExitCode == 0, result.ToString());
        var line = Assert.Single(result.Lines);
        var boxes = JsonNode.Parse(line)!["boxes"]!.AsArray();
        Assert.Equal(["label", "x1", "y1", "x2", "y2", "mask"], boxes[0]!.AsObject().Select(p => p.Key).ToArray());
        Assert.Equal(CatCounts, (string)boxes[0]!["mask"]!["counts"]!);
        Assert.Null(boxes[1]!["mask"]);
    }

    private Task<string> SeedAsync() => CreateStoreAsync(async store =>
    {
        var ct = CancellationToken.None;
        await store.MigrateAsync(ct);
        var run = await store.CreateRunAsync(new RunDefinition("seg", "s3://masks/", Model, [Segment]), ct);
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://masks/a.png", "ea", 100, true)], "a.png", ct);
        await store.CompleteListingAsync(run.Id, ct);
        await store.WriteBatchAsync(new ResultBatch(
            [new ResultRecord("s3://masks/a.png", "ea", Model, Segment, "cat ; dog", Boxes, 1030, 44, 50, run.Id)],
            [],
            [new ImageRecord("s3://masks/a.png", "ea", 4, 3, 100)]), ct);
    });
}

public sealed class SqliteSegmentExportTests : SegmentExportScenarios, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-seg-export-").FullName;

    protected override async Task<string> CreateStoreAsync(Func<ResultStore, Task> seed)
    {
        var file = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".db");
        var connection = new SqliteConnectionStringBuilder { DataSource = file }.ConnectionString;
        await seed(Store(DatabaseProvider.Sqlite, connection));
        return file;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    internal static ResultStore Store(DatabaseProvider provider, string connection) => new(
        new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = provider, ConnectionString = connection })),
        TimeProvider.System, NullLogger<ResultStore>.Instance);
}

public sealed class PostgresSegmentExportTests(PostgresFixture postgres) : SegmentExportScenarios, IClassFixture<PostgresFixture>
{
    protected override async Task<string> CreateStoreAsync(Func<ResultStore, Task> seed)
    {
        Skip.If(postgres.SkipReason is not null, postgres.SkipReason);
        postgres.EnsureAvailable();
        var connection = await postgres.CreateDatabaseAsync();
        await seed(SqliteSegmentExportTests.Store(DatabaseProvider.Postgres, connection));
        return connection;
    }
}

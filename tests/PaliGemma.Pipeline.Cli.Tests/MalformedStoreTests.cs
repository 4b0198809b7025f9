using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>Stored values the worker would never write end an export with one error line that names the row.</summary>
public sealed class MalformedStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-cli-bad-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Theory]
    [InlineData("jsonl")]
    [InlineData("coco")]
    public async Task Boxes_that_are_not_the_documented_array_fail_the_export_and_leave_no_file(string format)
    {
        // Given a result whose boxes have a string coordinate (SQLite stores JSON as unchecked text)
        var db = Path.Combine(_folder, format + ".db");
        var store = new ResultStore(
            new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Sqlite, ConnectionString = "Data Source=" + db })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        await store.MigrateAsync(CancellationToken.None);
        var run = await store.CreateRunAsync(new RunDefinition("bad", "s3://x/", SeededStore.Model, [SeededStore.Detect]), CancellationToken.None);
        await store.RecordListedPageAsync(run.Id, [new RunItemRecord("s3://x/q.jpg", "eq", 1, true)], null, CancellationToken.None);
        await store.WriteBatchAsync(ResultBatch.Of(new ResultRecord("s3://x/q.jpg", "eq", SeededStore.Model, SeededStore.Detect, "cat",
            """[{"label":"cat","x1":"ten","y1":0,"x2":5,"y2":5}]""", 1, 1, 1, run.Id)), CancellationToken.None);
        var file = Path.Combine(_folder, "out." + format);

        // When it is exported to a file
        var result = await CliRunner.RunAsync("export", "bad", "--format", format, "--out", file, "--db", db);

        // Then the export fails naming the row, and neither the file nor a partial file is left behind
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("results.boxes of s3://x/q.jpg", result.Stderr, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_folder, "*out*"));
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary><c>pgpipe changes</c> run in-process against the seeded store (read-only) and against stores of its own, per provider.</summary>
public abstract class ChangesCommandScenarios
{
    private static readonly string[] LineKeys = ["cursor", "op", "id", "uri", "etag", "model", "task", "text", "boxes", "prompt_tokens", "generated_tokens", "updated_at"];

    private readonly SeededStore _store;

    protected ChangesCommandScenarios(SeededStore store)
    {
        _store = store;
    }

    private string Db => _store.AvailableDb;

    /// <summary>
    /// A new, migrated, empty store and the --db value that names it. Reads of rows just written use --follow with a
    /// --limit: on Postgres any transaction open on the server (another test class's writers) holds new rows back a
    /// while, and a plain read returns only what is readable now.
    /// </summary>
    protected abstract Task<(ResultStore Store, string Db)> CreateStoreAsync();

    [SkippableFact]
    public async Task The_feed_prints_every_result_in_commit_order_with_exactly_the_documented_keys_and_no_failures()
    {
        // When the whole feed of the seeded store is printed
        var result = await RunOnceReadableAsync(5, "changes", "--db", Db);

        // Then there is one upsert per stored result, in the order the batches committed (monday's, then tuesday's in
        // batch order); the five failures of the seed are not in the feed
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Lines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.All(lines, l => Assert.Equal(LineKeys, l.Select(p => p.Key).ToArray()));
        Assert.Equal(
            [
                ("a.jpg", "ea", SeededStore.Caption, "a black cat sleeping on a red sofa", 1030, 9),
                ("a.jpg", "ea", SeededStore.Detect, "cat", 1030, 5),
                ("b.jpg", "eb", SeededStore.Caption, "two dogs running on the beach", 1030, 8),
                ("b.jpg", "eb", SeededStore.Detect, "dog ; dog", 1030, 10),
                ("c.jpg", "ec", SeededStore.Detect, "", 1030, 1),
            ],
            lines.Select(l => (((string)l["uri"]!).Replace(SeededStore.Source, string.Empty, StringComparison.Ordinal), (string)l["etag"]!, (string)l["task"]!,
                (string)l["text"]!, (int)l["prompt_tokens"]!, (int)l["generated_tokens"]!)).ToArray());
        Assert.All(lines, l => Assert.Equal("upsert", (string)l["op"]!));
        Assert.All(lines, l => Assert.Equal(SeededStore.Model, (string)l["model"]!));
        Assert.Equal(5, lines.Select(l => (string)l["cursor"]!).Distinct().Count());

        // And boxes are the stored arrays: [] for a caption, the dog boxes in original-image pixels for b's detection
        Assert.Empty(lines[0]["boxes"]!.AsArray());
        var dogs = lines[3]["boxes"]!.AsArray();
        Assert.Equal(2, dogs.Count);
        Assert.Equal(("dog", 100.5, 200.25, 300.75, 500.0), ((string)dogs[0]!["label"]!, (double)dogs[0]!["x1"]!, (double)dogs[0]!["y1"]!, (double)dogs[0]!["x2"]!, (double)dogs[0]!["y2"]!));
        Assert.Empty(lines[4]["boxes"]!.AsArray());
    }

    [SkippableFact]
    public async Task Change_feed_pages_of_the_http_api_concatenated_equal_the_cli_output()
    {
        // Given the feed as pgpipe changes prints it
        var cli = await RunOnceReadableAsync(5, "changes", "--db", Db);
        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Equal(5, cli.Lines.Count);

        // When the results browser serves the same store and the feed is read over HTTP two changes at a time, each
        // page asked for after the previous page's next
        var connectionString = _store.Provider == DatabaseProvider.Sqlite
            ? new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = Db }.ConnectionString
            : Db;
        var store = SqliteSegmentExportTests.Store(_store.Provider, connectionString);
        await using var app = Web.ResultsBrowserApp.CreateServer(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(),
            new Web.BrowserStore(store, _store.Provider == DatabaseProvider.Sqlite ? Db : null), ["http://127.0.0.1:0"]);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(Assert.Single(app.Urls)) };
        var lines = new System.Text.StringBuilder();
        var after = string.Empty;
        for (var pages = 0; ; pages++)
        {
            Assert.True(pages < 10, "the feed did not end");
            using var response = await client.GetAsync($"/api/changes?limit=2&after={Uri.EscapeDataString(after)}");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            using var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var changes = page.RootElement.GetProperty("changes");
            Assert.True(changes.GetArrayLength() <= 2);
            foreach (var change in changes.EnumerateArray())
            {
                lines.Append(change.GetRawText()).Append('\n');
            }

            var next = page.RootElement.GetProperty("next").GetString()!;
            if (changes.GetArrayLength() == 0)
            {
                Assert.Equal(after.Length == 0 ? "0:0" : after, next);
                break;
            }

            after = next;
        }

        await app.StopAsync();

        // Then the pages' changes, one per line, are the CLI's output byte for byte
        Assert.Equal(cli.Stdout, lines.ToString());
    }

    [SkippableFact]
    public async Task Limit_then_after_resumes_exactly_after_the_last_printed_line()
    {
        // Given the whole feed
        var all = await RunOnceReadableAsync(5, "changes", "--db", Db);

        // When two lines are printed, then the rest after the second line's cursor
        var first = await CliRunner.RunAsync("changes", "--limit", "2", "--db", Db);
        var cursor = (string)JsonNode.Parse(first.Lines[^1])!["cursor"]!;
        var rest = await CliRunner.RunAsync("changes", "--after", cursor, "--db", Db);

        // Then together they are the whole feed, byte for byte
        Assert.True(first.ExitCode == 0 && rest.ExitCode == 0, first + "\n" + rest);
        Assert.Equal(2, first.Lines.Count);
        Assert.Equal(all.Stdout, first.Stdout + rest.Stdout);

        // And after the last line there is nothing, with exit code 0
        var end = await CliRunner.RunAsync("changes", "--after", (string)JsonNode.Parse(all.Lines[^1])!["cursor"]!, "--db", Db);
        Assert.Equal((0, string.Empty), (end.ExitCode, end.Stdout));
    }

    [SkippableTheory]
    [InlineData("--after", "not-a-cursor")]
    [InlineData("--after", "12")]
    [InlineData("--after", "-1:5")]
    [InlineData("--after", "1:2:3")]
    [InlineData("--after", "99999999999999999999:1")]
    [InlineData("--limit", "0")]
    [InlineData("--interval", "0")]
    public async Task Bad_arguments_are_a_one_line_usage_error_without_a_stack_trace(string option, string value)
    {
        // When changes gets a malformed cursor, a limit below 1 or a non-positive interval
        var result = await CliRunner.RunAsync("changes", option, value, "--db", Db);

        // Then it exits 2 with one "error:" line naming the option, and prints nothing on stdout
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Empty(result.Stdout);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: " + option, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_cursor_file_holding_no_cursor_and_after_with_a_cursor_file_are_usage_errors()
    {
        var folder = Directory.CreateTempSubdirectory("pgpipe-changes-").FullName;
        try
        {
            var file = Path.Combine(folder, "cursor");
            await File.WriteAllTextAsync(file, "garbage\nmore");
            var bad = await CliRunner.RunAsync("changes", "--cursor-file", file, "--db", Db);
            Assert.True(bad.ExitCode == 2, bad.ToString());
            Assert.StartsWith("error: --cursor-file", Assert.Single(bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
            Assert.Equal("garbage\nmore", await File.ReadAllTextAsync(file));

            var both = await CliRunner.RunAsync("changes", "--after", "0:0", "--cursor-file", file, "--db", Db);
            Assert.True(both.ExitCode == 2, both.ToString());
            Assert.StartsWith("error: --after and --cursor-file", both.Stderr, StringComparison.Ordinal);

            var noFolder = await CliRunner.RunAsync("changes", "--cursor-file", Path.Combine(folder, "missing", "cursor"), "--db", Db);
            Assert.True(noFolder.ExitCode == 2, noFolder.ToString());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [SkippableFact]
    public async Task A_run_with_a_cursor_file_resumes_exactly_where_the_last_one_stopped()
    {
        _store.SkipOrThrowIfUnavailable();
        var (store, db) = await CreateStoreAsync();
        var folder = Directory.CreateTempSubdirectory("pgpipe-changes-").FullName;
        try
        {
            var file = Path.Combine(folder, "indexer.cursor");

            // Given 2,500 results, and a first run that stops after 1,200 lines (the file does not exist yet: the beginning)
            await WriteRowsAsync(store, "first", 2500);
            var first = await CliRunner.RunAsync("changes", "--cursor-file", file, "--follow", "--limit", "1200", "--db", db);
            Assert.True(first.ExitCode == 0, first.ToString());
            Assert.Equal(1200, first.Lines.Count);

            // Then the file holds the last printed cursor, and nothing is left beside it
            Assert.Equal((string)JsonNode.Parse(first.Lines[^1])!["cursor"]! + "\n", await File.ReadAllTextAsync(file));
            Assert.Equal([file], Directory.GetFiles(folder));

            // When a second run starts from the file
            var second = await CliRunner.RunAsync("changes", "--cursor-file", file, "--follow", "--limit", "1300", "--db", db);

            // Then the two runs together are the whole feed, byte for byte: nothing repeated, nothing skipped
            var all = await CliRunner.RunAsync("changes", "--follow", "--limit", "2500", "--db", db);
            Assert.Equal(2500, all.Lines.Count);
            Assert.Equal(all.Stdout, first.Stdout + second.Stdout);
            Assert.Equal((string)JsonNode.Parse(all.Lines[^1])!["cursor"]! + "\n", await File.ReadAllTextAsync(file));

            // And once more results are written (one of them a rewrite of an early row), the next run prints only those
            await WriteRowsAsync(store, "third", 10);
            await store.WriteBatchAsync(ResultBatch.Of(Row("first", 0, "rewritten")), CancellationToken.None);
            var third = await CliRunner.RunAsync("changes", "--cursor-file", file, "--follow", "--limit", "11", "--db", db);
            Assert.True(third.ExitCode == 0, third.ToString());
            Assert.Equal(11, third.Lines.Count);
            Assert.Equal("rewritten first 0", (string)JsonNode.Parse(third.Lines[^1])!["text"]!);

            // And a run with nothing new prints nothing and leaves the file as it was
            var before = await File.ReadAllTextAsync(file);
            var empty = await CliRunner.RunAsync("changes", "--cursor-file", file, "--db", db);
            Assert.Equal((0, string.Empty, before), (empty.ExitCode, empty.Stdout, await File.ReadAllTextAsync(file)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [SkippableFact]
    public async Task A_follower_keeps_its_cursor_file_current_while_running_and_SIGINT_ends_it_with_exit_code_0()
    {
        _store.SkipOrThrowIfUnavailable();
        var (store, db) = await CreateStoreAsync();
        var folder = Directory.CreateTempSubdirectory("pgpipe-changes-").FullName;
        try
        {
            var file = Path.Combine(folder, "feed.cursor");
            var environment = new Dictionary<string, string>();

            // Given 2,500 results and a follower process with a cursor file
            await WriteRowsAsync(store, "row", 2500);
            using (var follower = PgpipeProcess.Start("follower", environment, "changes", "--follow", "--interval", "0.2", "--cursor-file", file, "--db", db))
            {
                // When it has printed them all and is waiting for more, and is then SIGKILLed (no exit code, no cleanup)
                var last = await LastLineOnceAsync(follower, 2500);
                await WaitForFileAsync(file, last);
                follower.KillHard();

                // Then the file already held the last printed cursor: it is written while running, not only at exit
                Assert.Equal(last, (await File.ReadAllTextAsync(file)).Trim());
            }

            // When a second follower resumes from the file, gets one more row, and receives SIGINT
            await store.WriteBatchAsync(ResultBatch.Of(Row("more", 0)), CancellationToken.None);
            using (var second = PgpipeProcess.Start("second", environment, "changes", "--follow", "--interval", "0.2", "--cursor-file", file, "--db", db))
            {
                var last = await LastLineOnceAsync(second, 1);
                SendSignal(second.Id, "INT");

                // Then it exits 0, having printed only the new row, with its cursor in the file
                Assert.True(await second.WaitForExitAsync(TimeSpan.FromSeconds(30)) == 0, second.Log);
                Assert.Equal("more/0", (string)JsonNode.Parse(Assert.Single(second.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)))!["uri"]!);
                Assert.Equal(last, (await File.ReadAllTextAsync(file)).Trim());
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<string> LastLineOnceAsync(PgpipeProcess process, int lines)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var printed = process.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (printed.Length >= lines)
            {
                Assert.Equal(lines, printed.Length);
                return (string)JsonNode.Parse(printed[^1])!["cursor"]!;
            }

            Assert.True(!process.HasExited && DateTime.UtcNow < deadline, $"{printed.Length} of {lines} lines:\n{process.Log}");
            await Task.Delay(50);
        }
    }

    private static async Task WaitForFileAsync(string file, string cursor)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(File.Exists(file) && (await File.ReadAllTextAsync(file)).Trim() == cursor) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }

    private static void SendSignal(int pid, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [SkippableFact]
    public async Task Follow_prints_rows_committed_after_it_started_and_stops_at_the_limit()
    {
        _store.SkipOrThrowIfUnavailable();
        var (store, db) = await CreateStoreAsync();
        await WriteRowsAsync(store, "before", 2);

        // Given a follower of an almost empty store that wants four lines
        var following = CliRunner.RunAsync("changes", "--follow", "--limit", "4", "--interval", "0.2", "--db", db);
        await Task.Delay(500);
        Assert.False(following.IsCompleted, "changes --follow ended before its limit");

        // When two more results commit
        await WriteRowsAsync(store, "after", 2);

        // Then it prints them and exits 0 at the limit
        var result = await following.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["before/0", "before/1", "after/0", "after/1"], result.Lines.Select(l => (string)JsonNode.Parse(l)!["uri"]!).ToArray());
    }

    [SkippableFact]
    public async Task A_superseded_result_comes_back_as_a_supersede_line_and_a_revived_one_as_an_upsert()
    {
        _store.SkipOrThrowIfUnavailable();
        var (store, db) = await CreateStoreAsync();
        var ct = CancellationToken.None;
        await store.WriteBatchAsync(ResultBatch.Of(Row("obj", 0, "v1")), ct);
        var start = (await CliRunner.RunAsync("changes", "--follow", "--limit", "1", "--db", db)).Lines[^1];

        // When the object is listed with a new ETag (its result stops being current), then with the old one again
        await store.MarkSupersededByNewEtagAsync([new ObjectVersion("obj/0", "new")], ct);
        var superseded = await CliRunner.RunAsync("changes", "--after", (string)JsonNode.Parse(start)!["cursor"]!, "--follow", "--limit", "1", "--interval", "0.2", "--db", db);
        await store.MarkSupersededByNewEtagAsync([new ObjectVersion("obj/0", "e")], ct);
        var revived = await CliRunner.RunAsync("changes", "--after", (string)JsonNode.Parse(superseded.Lines[^1])!["cursor"]!, "--follow", "--limit", "1", "--interval", "0.2", "--db", db);

        // Then the feed says supersede, then upsert, for the same result id
        var s = JsonNode.Parse(Assert.Single(superseded.Lines))!;
        var r = JsonNode.Parse(Assert.Single(revived.Lines))!;
        Assert.Equal(("supersede", "upsert"), ((string)s["op"]!, (string)r["op"]!));
        Assert.Equal((long)JsonNode.Parse(start)!["id"]!, (long)s["id"]!);
        Assert.Equal((long)s["id"]!, (long)r["id"]!);
    }

    /// <summary>
    /// Runs pgpipe once the feed holds <paramref name="lines"/> readable changes. On Postgres a transaction open anywhere
    /// on the server since before the seed committed (another test class's writers) holds the seed back a moment; once
    /// readable, rows stay readable, so every later run sees them.
    /// </summary>
    private static async Task<CliResult> RunOnceReadableAsync(int lines, params string[] args)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var result = await CliRunner.RunAsync(args);
            if (result.ExitCode != 0 || result.Lines.Count >= lines || DateTime.UtcNow > deadline)
            {
                return result;
            }

            await Task.Delay(100);
        }
    }

    internal static ResultRecord Row(string prefix, int i, string text = "text") =>
        new($"{prefix}/{i}", "e", "m", "caption en", $"{text} {prefix} {i}".Trim(), null, 3, 2, 1, null);

    private static async Task WriteRowsAsync(ResultStore store, string prefix, int count)
    {
        foreach (var chunk in Enumerable.Range(0, count).Chunk(500))
        {
            await store.WriteBatchAsync(new ResultBatch(chunk.Select(i => Row(prefix, i)).ToList(), [], []), CancellationToken.None);
        }
    }
}

public sealed class SqliteChangesCommandTests(SqliteSeededStore store) : ChangesCommandScenarios(store), IClassFixture<SqliteSeededStore>
{
    protected override async Task<(ResultStore Store, string Db)> CreateStoreAsync()
    {
        var file = Path.Combine(store.Folder, Guid.NewGuid().ToString("N") + ".db");
        var created = SqliteSegmentExportTests.Store(DatabaseProvider.Sqlite, new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = file }.ConnectionString);
        await created.MigrateAsync(CancellationToken.None);
        return (created, file);
    }
}

public sealed class PostgresChangesCommandTests(PostgresSeededStore store) : ChangesCommandScenarios(store), IClassFixture<PostgresSeededStore>
{
    protected override async Task<(ResultStore Store, string Db)> CreateStoreAsync()
    {
        var connectionString = await store.CreateEmptyDatabaseAsync();
        var created = SqliteSegmentExportTests.Store(DatabaseProvider.Postgres, connectionString);
        await created.MigrateAsync(CancellationToken.None);
        return (created, connectionString);
    }
}

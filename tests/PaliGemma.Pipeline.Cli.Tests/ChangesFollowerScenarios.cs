using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// The indexer contract end to end: a real <c>pgpipe changes --follow</c> process feeds a test indexer that indexes
/// lines in bulk and stores the last cursor after each bulk, while three writers commit concurrently (half of their
/// transactions held open for a while before committing). The follower is SIGKILLed twice, each time after indexing
/// part of a bulk whose cursor it had not stored yet (the lines "in flight"), and restarted with <c>--after</c> its stored
/// cursor; lines still in the pipe die with it. At the end its index must equal the store's current results exactly.
/// </summary>
public abstract class ChangesFollowerScenarios(ITestOutputHelper output)
{
    private const int Writers = 3;
    private const int MinBatchesPerWriter = 60;
    private const int MaxBatchesPerWriter = 400;
    private const int BatchSize = 6;
    private const int BulkSize = 25;
    private static readonly int[] KillAfterLines = [150, 500];

    private int _kills;

    protected abstract DatabaseProvider Provider { get; }

    /// <summary>A new empty database's connection string (skips or throws when the service is missing).</summary>
    protected abstract Task<string> CreateDatabaseAsync();

    [SkippableFact]
    public async Task A_follower_killed_twice_while_three_writers_commit_late_ends_with_exactly_the_current_results()
    {
        var ct = CancellationToken.None;
        var connectionString = await CreateDatabaseAsync();
        var store = SqliteSegmentExportTests.Store(Provider, connectionString);
        await store.MigrateAsync(ct);
        var environment = new Dictionary<string, string>
        {
            ["Database__Provider"] = Provider.ToString(),
            ["Database__ConnectionString"] = connectionString,
        };

        // Given three writers that keep writing until the follower has been killed twice (and at least 60 batches each)
        var writes = new int[Writers];
        var writing = Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteAsync(store, w, writes))));

        // And a test indexer fed by pgpipe changes --follow, killed after 150 and 500 indexed lines
        var indexer = new TestIndexer();
        var killedWhileWriting = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        PgpipeProcess? follower = null;
        try
        {
            while (true)
            {
                string[] args = indexer.Cursor is { } cursor
                    ? ["changes", "--follow", "--interval", "0.5", "--after", cursor]
                    : ["changes", "--follow", "--interval", "0.5"];
                follower = PgpipeProcess.Start($"follower-{_kills}", environment, args);
                if (await FeedAsync(follower, indexer, connectionString, writing, deadline))
                {
                    break;
                }

                // Killed: restart from the stored cursor
                killedWhileWriting += writing.IsCompleted ? 0 : 1;
                follower.Dispose();
            }

            // When the index has caught up, SIGTERM ends the follower cleanly
            follower.Terminate();
            var exit = await follower.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.True(exit == 0, $"changes --follow exited {exit} on SIGTERM:\n{follower.Log}");
        }
        finally
        {
            follower?.Dispose();
        }

        // Then the index holds exactly the current results: nothing missing, no stale text or version, nothing superseded
        var current = await CurrentResultsAsync(connectionString);
        var missed = current.Count(kv => !indexer.Index.ContainsKey(kv.Key));
        var stale = indexer.Index.Count(kv => !current.TryGetValue(kv.Key, out var row) || row != kv.Value);
        output.WriteLine(
            $"{Provider}: writers {Writers}, batches {string.Join('/', writes)}, lines indexed {indexer.Indexed}, current results {current.Count}, " +
            $"kills {_kills} ({killedWhileWriting} while writing), in flight at kills {indexer.InFlight.Count}, repeats {indexer.Repeats}, missed {missed}, stale {stale}");
        Assert.Equal(KillAfterLines.Length, _kills);
        Assert.True(killedWhileWriting >= 1, "no kill happened while the writers were running");
        Assert.Equal(0, missed);
        Assert.Equal(0, stale);
        Assert.Equal(current, indexer.Index);

        // And repeats were only lines in flight at a kill (the indexer asserts each as it arrives)
        Assert.True(indexer.Repeats <= indexer.InFlight.Count);
    }

    /// <summary>Feeds the follower's lines to the indexer; false when it killed the follower, true when the index caught up after writing ended.</summary>
    private async Task<bool> FeedAsync(PgpipeProcess follower, TestIndexer indexer, string connectionString, Task writing, DateTime deadline)
    {
        var offset = 0;
        var lastCheck = DateTime.MinValue;
        while (true)
        {
            var text = follower.StandardOutput;
            var end = text.LastIndexOf('\n') + 1;
            var lines = text[offset..end].Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
            offset = end;
            foreach (var bulk in lines.Chunk(BulkSize))
            {
                if (_kills < KillAfterLines.Length && indexer.Indexed + bulk.Length >= KillAfterLines[_kills])
                {
                    // Dies after indexing part of this bulk, before storing its cursor.
                    indexer.Apply(bulk.Take(KillAfterLines[_kills] - indexer.Indexed));
                    follower.KillHard();
                    indexer.Crash();
                    Interlocked.Increment(ref _kills);
                    return false;
                }

                indexer.Apply(bulk);
                indexer.Commit();
            }

            if (writing.IsCompleted && lines.Count == 0 && DateTime.UtcNow - lastCheck > TimeSpan.FromMilliseconds(250))
            {
                await writing; // surfaces a writer's failure
                lastCheck = DateTime.UtcNow;
                var current = await CurrentResultsAsync(connectionString);
                if (_kills == KillAfterLines.Length && current.Count == indexer.Index.Count && current.All(kv => indexer.Index.TryGetValue(kv.Key, out var row) && row == kv.Value))
                {
                    return true;
                }
            }

            if (follower.HasExited)
            {
                throw new InvalidOperationException($"changes --follow exited on its own ({follower.ExitCode}):\n{follower.Log}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The index did not catch up within the deadline ({indexer.Index.Count} rows, {indexer.Indexed} lines):\n{follower.Log}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// One writer: batches of new objects, rewrites of its earlier results (new text, same key) and new versions of
    /// earlier objects (the old version superseded first, as the producer does); every other batch holds its transaction
    /// open 5-80 ms before committing, so commits land out of sequence order.
    /// </summary>
    private async Task WriteAsync(ResultStore store, int writer, int[] writes)
    {
        var ct = CancellationToken.None;
        var random = new Random(writer);
        var etags = new Dictionary<string, string>();
        var next = 0;
        for (var k = 0; k < MaxBatchesPerWriter && (k < MinBatchesPerWriter || Volatile.Read(ref _kills) < KillAfterLines.Length); k++)
        {
            List<ResultRecord> rows;
            var existing = etags.Keys.OrderBy(_ => random.Next()).Take(BatchSize).ToList();
            if (k % 4 == 3 && existing.Count > 0)
            {
                rows = existing.Select(uri => Result(uri, etags[uri], $"rewrite {k}")).ToList();
            }
            else if (k % 6 == 5 && existing.Count > 0)
            {
                foreach (var uri in existing)
                {
                    etags[uri] = $"e{k}";
                }

                await store.MarkSupersededByNewEtagAsync(existing.Select(uri => new ObjectVersion(uri, etags[uri])).ToList(), ct);
                rows = existing.Select(uri => Result(uri, etags[uri], $"version {k}")).ToList();
            }
            else
            {
                rows = Enumerable.Range(0, BatchSize).Select(_ => Result($"w{writer}/{next++}", "e0", $"new {k}")).ToList();
                foreach (var row in rows)
                {
                    etags[row.Uri] = row.ETag;
                }
            }

            var batch = new ResultBatch(rows, [], []);
            if (k % 2 == 0)
            {
                var (context, connection, transaction) = await store.BeginRawAsync(ct);
                await using (context)
                {
                    await store.WriteBatchCoreAsync(connection, transaction, batch, ct);
                    await Task.Delay(random.Next(5, 80), ct);
                    await transaction.CommitAsync(ct);
                }
            }
            else
            {
                await store.WriteBatchAsync(batch, ct);
            }

            writes[writer] = k + 1;
            await Task.Delay(random.Next(10, 40), ct);
        }
    }

    private static ResultRecord Result(string uri, string etag, string text) => new(uri, etag, "m", "caption en", $"{text} of {uri}@{etag}", null, 5, 4, 1, null);

    private async Task<Dictionary<long, IndexedRow>> CurrentResultsAsync(string connectionString)
    {
        var factory = new PipelineDbContextFactory(Microsoft.Extensions.Options.Options.Create(new DatabaseOptions { Provider = Provider, ConnectionString = connectionString }));
        await using var context = factory.CreateDbContext();
        await context.Database.OpenConnectionAsync();
        await using var command = context.Database.GetDbConnection().CreateCommand();
        // Every row that is not superseded, checked against the current_results view: the writers supersede every
        // older version, so the two must agree.
        command.CommandText = "SELECT id, uri, etag, model, task, text, (SELECT COUNT(*) FROM current_results) FROM results WHERE superseded = FALSE";
        var rows = new Dictionary<long, IndexedRow>();
        await using var reader = await command.ExecuteReaderAsync();
        long viewCount = 0;
        while (await reader.ReadAsync())
        {
            rows[reader.GetInt64(0)] = new IndexedRow(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5));
            viewCount = reader.GetInt64(6);
        }

        Assert.True(rows.Count == 0 || viewCount == rows.Count, $"current_results has {viewCount} rows, results has {rows.Count} not superseded");
        return rows;
    }

    private sealed record IndexedRow(string Uri, string ETag, string Model, string Task, string? Text);

    /// <summary>
    /// What a downstream indexer does with the feed: apply each line (upsert replaces the document keyed by id,
    /// supersede deletes it), and after each bulk store the last cursor. <see cref="Crash"/> loses the unstored part.
    /// </summary>
    private sealed class TestIndexer
    {
        private readonly HashSet<string> _seen = [];
        private readonly List<string> _uncommitted = [];

        public Dictionary<long, IndexedRow> Index { get; } = [];

        /// <summary>The stored ("durable") cursor the follower restarts after.</summary>
        public string? Cursor { get; private set; }

        public int Indexed { get; private set; }

        public int Repeats { get; private set; }

        /// <summary>Cursors indexed but not stored when the follower died.</summary>
        public HashSet<string> InFlight { get; } = [];

        public void Apply(IEnumerable<JsonNode> lines)
        {
            foreach (var line in lines)
            {
                var cursor = (string)line["cursor"]!;
                if (!_seen.Add(cursor))
                {
                    Repeats++;
                    Assert.True(InFlight.Contains(cursor), $"line {cursor} came twice but was not in flight at a kill");
                }

                var id = (long)line["id"]!;
                switch ((string)line["op"]!)
                {
                    case "upsert":
                        Index[id] = new IndexedRow((string)line["uri"]!, (string)line["etag"]!, (string)line["model"]!, (string)line["task"]!, (string?)line["text"]);
                        break;
                    case "supersede":
                        Index.Remove(id);
                        break;
                    default:
                        throw new InvalidOperationException($"unknown op in {line.ToJsonString()}");
                }

                Indexed++;
                _uncommitted.Add(cursor);
            }
        }

        public void Commit()
        {
            if (_uncommitted.Count > 0)
            {
                Cursor = _uncommitted[^1];
                _uncommitted.Clear();
            }
        }

        public void Crash()
        {
            InFlight.UnionWith(_uncommitted);
            _uncommitted.Clear();
        }
    }
}

public sealed class PostgresChangesFollowerTests(PostgresFixture postgres, ITestOutputHelper output) : ChangesFollowerScenarios(output), IClassFixture<PostgresFixture>
{
    protected override DatabaseProvider Provider => DatabaseProvider.Postgres;

    protected override Task<string> CreateDatabaseAsync()
    {
        Skip.If(postgres.SkipReason is not null, postgres.SkipReason);
        return postgres.CreateDatabaseAsync();
    }
}

public sealed class SqliteChangesFollowerTests(ITestOutputHelper output) : ChangesFollowerScenarios(output), IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-follower-").FullName;

    protected override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    protected override Task<string> CreateDatabaseAsync() =>
        Task.FromResult(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder, "store.db") }.ConnectionString);

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}

using System.Data;
using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Postgres: jsonb, uuid and timestamptz parameters; pages bound as arrays (one statement Postgres plans once);
/// change_seq from a sequence with the writing transaction's id; NOTIFY on <see cref="ResultStore.NotifyChannel"/>.
/// </summary>
internal sealed class PostgresDialect : SqlDialect
{
    // A command holding several statements is flushed once it passes this many parameters.
    private const int MaxParametersPerCommand = 20_000;

    public static readonly PostgresDialect Instance = new();

    private PostgresDialect()
    {
    }

    public override int RowsPerStatement => MaxRowsPerStatement;

    public override bool HasRoles => true;

    public override bool HasNotify => true;

    public override bool CombinesPageLookups => true;

    public override string Json(SqlCommandBuilder b, string? value) => $"CAST({b.Text(value)} AS jsonb)";

    public override string Guid(SqlCommandBuilder b, Guid? value) => b.Add(value, DbType.Guid);

    public override string Time(SqlCommandBuilder b, DateTime utc) => b.Add(DateTime.SpecifyKind(utc, DateTimeKind.Utc), DbType.DateTime);

    public override string JsonText(string column) => column + "::text";

    // CASE, not AND: neither engine promises to short-circuit, and the length functions reject non-arrays.
    public override string HasBoxes =>
        "COALESCE(CASE WHEN jsonb_typeof(r.boxes) = 'array' THEN jsonb_array_length(r.boxes) > 0 ELSE FALSE END, FALSE)";

    public override Task AfterMigrateAsync(PipelineDbContext context, CancellationToken ct) => Task.CompletedTask;

    public override async Task<(int Inserted, int Enqueued)> UpsertRunItemsAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, Guid runId, IReadOnlyList<RunItemRecord> distinct, string upsert,
        CancellationToken ct)
    {
        // One statement with one array per column: Postgres plans it once, whereas a VALUES list of a
        // page's 4,000 parameters cost more to parse and plan than to run (profiled: most of a nightly page).
        using var command = (NpgsqlCommand)connection.CreateCommand();
        command.Transaction = (NpgsqlTransaction?)transaction;
        command.CommandText = "INSERT INTO run_items (run_id, uri, etag, size, enqueued) SELECT @run, u, e, s, q FROM unnest(@u, @e, @s, @q) AS v(u, e, s, q)" + upsert;
        command.Parameters.AddWithValue("run", runId);
        command.Parameters.AddWithValue("u", distinct.Select(i => i.Uri).ToArray());
        command.Parameters.AddWithValue("e", distinct.Select(i => i.ETag).ToArray());
        command.Parameters.AddWithValue("s", distinct.Select(i => i.Size).ToArray());
        command.Parameters.AddWithValue("q", distinct.Select(i => i.Enqueued).ToArray());
        var enqueued = await StoreContext.ReadAsync(command, r => r.GetBoolean(0), ct).ConfigureAwait(false);
        return (enqueued.Count, enqueued.Count(e => e));
    }

    public override async Task FindExistingAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, IReadOnlyList<ObjectVersion> page, string model,
        IReadOnlyCollection<string> tasks, HashSet<ExistingResult> found, CancellationToken ct)
    {
        using var command = ExistingResultsCommand(connection, page, model, tasks);
        found.UnionWith(await StoreContext.ReadAsync(command, StoreContext.ReadExisting, ct).ConfigureAwait(false));
    }

    public override async Task<int> SupersedeByNewEtagAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, IReadOnlyList<ObjectVersion> listed, CancellationToken ct)
    {
        using var command = SupersedeCommand(connection, listed, store.Now);
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    public override async Task<(int, IReadOnlySet<ExistingResult>)> SupersedeAndFindExistingAsync(
        StoreContext store, DbConnection connection, IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks,
        CancellationToken ct)
    {
        using var batch = new NpgsqlBatch((NpgsqlConnection)connection);
        // One round trip; Npgsql sends both under one Sync, so they commit or fail together.
        using (var supersede = SupersedeCommand(connection, page, store.Now))
        using (var existing = ExistingResultsCommand(connection, page, model, tasks))
        {
            batch.BatchCommands.Add(ToBatchCommand(supersede));
            batch.BatchCommands.Add(ToBatchCommand(existing));
        }

        var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await reader.ReadAsync(ct).ConfigureAwait(false);
            var changed = Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture);
            await reader.NextResultAsync(ct).ConfigureAwait(false);
            var found = new HashSet<ExistingResult>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found.Add(StoreContext.ReadExisting(reader));
            }

            return (changed, found);
        }
    }

    public override async Task PrepareSweepAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct)
    {
        // The run's items were all written during this pass, after the last ANALYZE, so the planner takes
        // them for one row and picks a nested loop that filters every item of the run for every result:
        // measured 8 s for 10,000 keys, quadratic beyond. Without nested loops it hashes or merges, linear.
        using var planner = connection.CreateCommand();
        planner.Transaction = transaction;
        planner.CommandText = "SET LOCAL enable_nestloop = off";
        await planner.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public override Task<long> ChangeBaseAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct) => Task.FromResult(0L);

    public override string ChangeBump(SqlCommandBuilder b, long changeBase) =>
        "change_seq = nextval('results_change_seq'), txid = pg_current_xact_id()";

    public override void AppendWakeUp(SqlCommandBuilder b) =>
        // A second statement in the same command: ExecuteNonQuery still reports the UPDATE's row count.
        b.Sql.Append("; SELECT pg_notify('").Append(ResultStore.NotifyChannel).Append("', '')");

    public override Task<long> FirstChangeSeqAsync(DbConnection connection, DbTransaction? transaction, int results, CancellationToken ct) =>
        Task.FromResult(0L);

    public override string ResultsInsertPrefix => "WITH up AS (";

    public override string NextChangeSeq(SqlCommandBuilder b, ref long next) => "nextval('results_change_seq')";

    public override void AppendResultsTail(SqlCommandBuilder b, IEnumerable<string> keys)
    {
        // The written ids go out as a NOTIFY, delivered by the server only when the transaction commits.
        b.Sql.Append("change_seq = nextval('results_change_seq'), txid = pg_current_xact_id() RETURNING id), ");
        b.Sql.Append("del AS (DELETE FROM failures WHERE (uri, etag, page, model, task) IN (VALUES ");
        b.Sql.AppendJoin(", ", keys);
        b.Sql.Append(")) SELECT pg_notify('").Append(ResultStore.NotifyChannel)
            .Append("', CASE WHEN length(s) <= 7900 THEN s ELSE '' END) FROM (SELECT COALESCE(string_agg(id::text, ','), '') AS s FROM up) q;\n");
    }

    public override StatementRunner BeginStatements(DbConnection connection, DbTransaction transaction) => new PackedStatements(connection, transaction, this);

    public override void AppendFeedQuery(SqlCommandBuilder b, string columns, ChangeCursor cursor, int limit)
    {
        // A row comparison, not "txid > t OR (txid = t AND seq > s)": only the former bounds the scan of
        // ix_results_feed from below, and the OR form re-read every earlier row on each page (a 100,000-row feed
        // took 106 ms a page at its end instead of 0.6 ms).
        var tx = $"CAST(CAST({b.Long(cursor.TransactionId)} AS text) AS xid8)";
        b.Sql.Append(CultureInfo.InvariantCulture,
            $"SELECT {string.Format(CultureInfo.InvariantCulture, columns, "boxes::text")}, CAST(CAST(txid AS text) AS bigint), change_seq FROM results WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) AND (txid, change_seq) > ({tx}, {b.Long(cursor.Sequence)}) ORDER BY txid, change_seq LIMIT {b.Int(limit)}");
    }

    public override ChangeWaiter CreateWaiter(string connectionString, TimeProvider time, ILogger logger) => new(connectionString, time, logger);

    public override bool AppendSearch(SqlCommandBuilder b, string columns, string text)
    {
        b.Sql.Append("SELECT ").Append(string.Format(CultureInfo.InvariantCulture, columns,
            "ts_headline('english', coalesce(r.text, ''), q, 'StartSel=[, StopSel=], MaxWords=24, MinWords=8')", "ts_rank_cd(r.search_vector, q)"));
        b.Sql.Append(CultureInfo.InvariantCulture, $" FROM current_results r, websearch_to_tsquery('english', {b.Text(text)}) q WHERE r.search_vector @@ q");
        return true;
    }

    private static NpgsqlBatchCommand ToBatchCommand(NpgsqlCommand command)
    {
        var batchCommand = new NpgsqlBatchCommand(command.CommandText);
        foreach (NpgsqlParameter p in command.Parameters)
        {
            batchCommand.Parameters.Add(p.Clone());
        }

        return batchCommand;
    }

    /// <summary>
    /// Supersede case (a) for a page as one statement over arrays; returns the changed row count, and wakes
    /// feed readers only when a row changed (a nightly page that changes nothing stays silent).
    /// </summary>
    private static NpgsqlCommand SupersedeCommand(DbConnection connection, IReadOnlyList<ObjectVersion> listed, DateTime now)
    {
        var distinct = listed.DistinctBy(o => o.Uri, StringComparer.Ordinal).ToList();
        var command = (NpgsqlCommand)connection.CreateCommand();
        command.CommandText = $"""
            WITH changed AS (
              UPDATE results SET superseded = (results.etag <> v.e), updated_at = @now,
                change_seq = nextval('results_change_seq'), txid = pg_current_xact_id()
              FROM unnest(@u, @e) AS v(u, e)
              WHERE results.uri = v.u AND results.superseded <> (results.etag <> v.e)
              RETURNING 1),
            n AS (SELECT count(*) AS c FROM changed)
            SELECT c, CASE WHEN c > 0 THEN pg_notify('{ResultStore.NotifyChannel}', '') END FROM n
            """;
        command.Parameters.AddWithValue("now", DateTime.SpecifyKind(now, DateTimeKind.Utc));
        command.Parameters.AddWithValue("u", distinct.Select(o => o.Uri).ToArray());
        command.Parameters.AddWithValue("e", distinct.Select(o => o.ETag).ToArray());
        return command;
    }

    /// <summary>
    /// The skip-existing lookup for a page as one statement over arrays: results at each version's page, and for a
    /// whole object (page 0) that is a document with a page count, the tasks done on every one of its pages.
    /// </summary>
    private static NpgsqlCommand ExistingResultsCommand(DbConnection connection, IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks)
    {
        var command = (NpgsqlCommand)connection.CreateCommand();
        command.CommandText = """
            SELECT r.uri, r.etag, r.task, r.page FROM results r JOIN unnest(@u, @e, @p) AS v(u, e, p) ON r.uri = v.u AND r.etag = v.e AND r.page = v.p
            WHERE r.model = @m AND r.task = ANY(@t)
            UNION ALL
            SELECT d.uri, d.etag, t.task, 0 FROM documents d JOIN unnest(@u, @e, @p) AS v(u, e, p) ON d.uri = v.u AND d.etag = v.e AND v.p = 0
            CROSS JOIN unnest(@t) AS t(task)
            WHERE d.page_count > 0 AND d.page_count = (SELECT COUNT(*) FROM results r WHERE r.uri = d.uri AND r.etag = d.etag
              AND r.page BETWEEN 1 AND d.page_count AND r.model = @m AND r.task = t.task AND r.superseded = FALSE)
            """;
        command.Parameters.AddWithValue("u", page.Select(o => o.Uri).ToArray());
        command.Parameters.AddWithValue("e", page.Select(o => o.ETag).ToArray());
        command.Parameters.AddWithValue("p", page.Select(o => o.Page).ToArray());
        command.Parameters.AddWithValue("m", model);
        command.Parameters.AddWithValue("t", tasks.ToArray());
        return command;
    }

    /// <summary>
    /// All statements of a normal-sized batch go in one command: Npgsql sends them in one round trip
    /// (BEGIN rides along), so a worker batch costs this command plus COMMIT. Huge batches are split.
    /// </summary>
    private sealed class PackedStatements(DbConnection connection, DbTransaction transaction, SqlDialect dialect) : StatementRunner
    {
        private SqlCommandBuilder _b = new(connection, transaction, dialect);

        public override async Task AddAsync<T>(IReadOnlyList<T> rows, Action<SqlCommandBuilder, IEnumerable<T>> append, CancellationToken ct)
        {
            foreach (var chunk in rows.Chunk(MaxRowsPerStatement))
            {
                append(_b, chunk);
                if (_b.ParameterCount > MaxParametersPerCommand)
                {
                    await FlushAsync(ct).ConfigureAwait(false);
                }
            }
        }

        public override async Task FlushAsync(CancellationToken ct)
        {
            if (_b.Sql.Length == 0)
            {
                return;
            }

            await _b.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            _b.Dispose();
            _b = new SqlCommandBuilder(connection, transaction, dialect);
        }

        public override void Dispose() => _b.Dispose();
    }
}

using System.Data;
using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// SQLite: JSON, Guids and timestamps as text in EF Core's forms; one-row statements on reused prepared commands;
/// change_seq assigned under the single write lock; FTS5 search; no roles and no NOTIFY.
/// </summary>
internal sealed class SqliteDialect : SqlDialect
{
    public static readonly SqliteDialect Instance = new();

    private SqliteDialect()
    {
    }

    // One row per statement on one reused, prepared command (see SqlCommandBuilder.Restart): binding by name makes a
    // statement's cost grow with the square of its parameters, and in-process there is no round trip for multi-row
    // statements to save.
    public override int RowsPerStatement => 1;

    public override bool HasRoles => false;

    public override bool HasNotify => false;

    public override bool CombinesPageLookups => false;

    public override string Json(SqlCommandBuilder b, string? value) => b.Text(value);

    // Upper-case text, the form EF Core's SQLite provider uses.
    public override string Guid(SqlCommandBuilder b, Guid? value) => b.Add(value?.ToString("D").ToUpperInvariant(), DbType.String);

    // ISO text, the format EF Core writes.
    public override string Time(SqlCommandBuilder b, DateTime utc) =>
        b.Add(utc.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture), DbType.String);

    public override string JsonText(string column) => column;

    public override string HasBoxes => "COALESCE(CASE WHEN json_valid(r.boxes) THEN json_array_length(r.boxes) > 0 ELSE 0 END, 0)";

    // WAL lets readers (status, export, feed) run while a worker batch writes; it persists in the file.
    public override Task AfterMigrateAsync(PipelineDbContext context, CancellationToken ct) =>
        context.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);

    public override async Task<(int Inserted, int Enqueued)> UpsertRunItemsAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, Guid runId, IReadOnlyList<RunItemRecord> distinct, string upsert,
        CancellationToken ct)
    {
        int inserted = 0, enqueued = 0;
        using var b = store.Command(connection, transaction);
        foreach (var chunk in distinct.Chunk(RowsPerStatement))
        {
            b.Restart();
            var run = b.Guid(runId);
            b.Sql.Append("INSERT INTO run_items (run_id, uri, etag, size, enqueued) VALUES ");
            StoreContext.AppendRows(b, chunk, (i, s) => s.Append(CultureInfo.InvariantCulture, $"({run}, {b.Text(i.Uri)}, {b.Text(i.ETag)}, {b.Long(i.Size)}, {b.Bool(i.Enqueued)})"));
            b.Sql.Append(upsert);
            foreach (var e in await StoreContext.ReadAsync(b.Build(), r => r.GetBool(0), ct).ConfigureAwait(false))
            {
                inserted++;
                enqueued += e ? 1 : 0;
            }
        }

        return (inserted, enqueued);
    }

    public override async Task FindExistingAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, IReadOnlyList<ObjectVersion> page, string model,
        IReadOnlyCollection<string> tasks, HashSet<ExistingResult> found, CancellationToken ct)
    {
        // One version per statement (see RowsPerStatement), and the document branch only for whole objects, where it
        // can match: a page-0 task is done when a document with a page count has it done on every page.
        using var b = store.Command(connection, transaction);
        foreach (var o in page)
        {
            b.Restart();
            var uri = b.Text(o.Uri);
            var etag = b.Text(o.ETag);
            var m = b.Text(model);
            var taskList = tasks.Select(t => b.Text(t)).ToList();
            b.Sql.Append(CultureInfo.InvariantCulture,
                $"SELECT r.uri, r.etag, r.task, r.page FROM results r WHERE r.uri = {uri} AND r.etag = {etag} AND r.page = {b.Int(o.Page)} AND r.model = {m} AND r.task IN (");
            b.Sql.AppendJoin(", ", taskList);
            b.Sql.Append(')');
            if (o.Page == 0)
            {
                b.Sql.Append(" UNION ALL SELECT d.uri, d.etag, t.column1, 0 FROM documents d JOIN (VALUES ");
                b.Sql.AppendJoin(", ", taskList.Select(t => $"({t})"));
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $") AS t WHERE d.uri = {uri} AND d.etag = {etag} AND d.page_count > 0 AND d.page_count = (SELECT COUNT(*) FROM results r WHERE r.uri = d.uri AND r.etag = d.etag AND r.page BETWEEN 1 AND d.page_count AND r.model = {m} AND r.task = t.column1 AND r.superseded = FALSE)");
            }

            found.UnionWith(await StoreContext.ReadAsync(b.Build(), StoreContext.ReadExisting, ct).ConfigureAwait(false));
        }
    }

    public override async Task<int> SupersedeByNewEtagAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, IReadOnlyList<ObjectVersion> listed, CancellationToken ct)
    {
        var changed = 0;
        var now = store.Now;
        var seqBase = await ChangeBaseAsync(connection, transaction, ct).ConfigureAwait(false);
        using var b = store.Command(connection, transaction);
        foreach (var chunk in listed.DistinctBy(o => o.Uri, StringComparer.Ordinal).Chunk(RowsPerStatement))
        {
            b.Restart();
            var bump = ChangeBump(b, seqBase);
            b.Sql.Append(CultureInfo.InvariantCulture, $"UPDATE results SET superseded = (results.etag <> v.column2), updated_at = {b.Time(now)}, {bump} FROM (VALUES ");
            StoreContext.AppendRows(b, chunk, (o, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(o.Uri)}, {b.Text(o.ETag)})"));
            b.Sql.Append(") AS v WHERE results.uri = v.column1 AND results.superseded <> (results.etag <> v.column2)");
            AppendWakeUp(b);
            changed += await b.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return changed;
    }

    public override Task PrepareSweepAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct) => Task.CompletedTask;

    public override Task<long> ChangeBaseAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct) =>
        MaxChangeSeqAsync(connection, transaction, ct);

    // base + id is unique per row (one base per transaction) and above every position that existed when the write
    // lock was taken, so it is commit-ordered.
    public override string ChangeBump(SqlCommandBuilder b, long changeBase) => $"change_seq = {b.Long(changeBase)} + results.id";

    public override void AppendWakeUp(SqlCommandBuilder b)
    {
        // Nobody listens: feed readers poll.
    }

    // BEGIN IMMEDIATE holds the single write lock, so max+1, max+2, ... is commit-ordered.
    public override async Task<long> FirstChangeSeqAsync(DbConnection connection, DbTransaction? transaction, int results, CancellationToken ct) =>
        results == 0 ? 0 : await MaxChangeSeqAsync(connection, transaction, ct).ConfigureAwait(false) + 1;

    public override string ResultsInsertPrefix => string.Empty;

    public override string NextChangeSeq(SqlCommandBuilder b, ref long next) => b.Long(next++);

    public override void AppendResultsTail(SqlCommandBuilder b, IEnumerable<string> keys)
    {
        b.Sql.Append("change_seq = excluded.change_seq;\n");
        b.Sql.Append("DELETE FROM failures WHERE (uri, etag, page, model, task) IN (VALUES ");
        b.Sql.AppendJoin(", ", keys);
        b.Sql.Append(");\n");
    }

    public override StatementRunner BeginStatements(DbConnection connection, DbTransaction transaction) => new PerRowStatements(connection, transaction);

    public override void AppendFeedQuery(SqlCommandBuilder b, string columns, ChangeCursor cursor, int limit) =>
        b.Sql.Append(CultureInfo.InvariantCulture,
            $"SELECT {string.Format(CultureInfo.InvariantCulture, columns, "boxes")}, 0, change_seq FROM results WHERE change_seq > {b.Long(cursor.Sequence)} ORDER BY change_seq LIMIT {b.Int(limit)}");

    public override ChangeWaiter CreateWaiter(string connectionString, TimeProvider time, ILogger logger) => new(null, time, logger);

    public override bool AppendSearch(SqlCommandBuilder b, string columns, string text)
    {
        var match = FtsQuery(text);
        if (match.Length == 0)
        {
            // Only punctuation: nothing can match, and FTS5 would reject an empty MATCH.
            return false;
        }

        b.Sql.Append("SELECT ").Append(string.Format(CultureInfo.InvariantCulture, columns,
            "snippet(results_fts, 0, '[', ']', '...', 16)", "-bm25(results_fts)"));
        b.Sql.Append(CultureInfo.InvariantCulture, $" FROM results_fts JOIN current_results r ON r.id = results_fts.rowid WHERE results_fts MATCH {b.Text(match)}");
        return true;
    }

    /// <summary>Turns free text into an FTS5 query of quoted terms (all required), so user input is never FTS syntax.</summary>
    internal static string FtsQuery(string query)
    {
        var terms = query.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => new string(t.Where(ch => char.IsLetterOrDigit(ch)).ToArray()))
            .Where(t => t.Length > 0)
            .Select(t => "\"" + t + "\"");
        return string.Join(' ', terms);
    }

    private static async Task<long> MaxChangeSeqAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct)
    {
        using var max = connection.CreateCommand();
        max.Transaction = transaction;
        max.CommandText = "SELECT COALESCE(MAX(change_seq), 0) FROM results";
        return Convert.ToInt64(await max.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The same statements as on Postgres, one row each, in the same order. Each kind keeps one command, so SQLite
    /// prepares its statements once a batch.
    /// </summary>
    private sealed class PerRowStatements(DbConnection connection, DbTransaction transaction) : StatementRunner
    {
        public override async Task AddAsync<T>(IReadOnlyList<T> rows, Action<SqlCommandBuilder, IEnumerable<T>> append, CancellationToken ct)
        {
            using var b = new SqlCommandBuilder(connection, transaction, Instance);
            var row = new T[1];
            foreach (var value in rows)
            {
                b.Restart();
                row[0] = value;
                append(b, row);
                await b.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }

        public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

        public override void Dispose()
        {
            // Each kind's command is disposed when its rows are done.
        }
    }
}

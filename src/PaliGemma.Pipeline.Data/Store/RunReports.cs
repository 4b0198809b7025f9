using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Reports over a run: its status counts, the export of every (object, task), and image sizes for COCO export.
/// Members are documented on <see cref="ResultStore"/>.
/// </summary>
internal sealed class RunReports(StoreContext store)
{
    public Task<RunStatus> GetRunStatusAsync(Guid runId, TimeSpan window, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        return store.ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var run = await store.FindRunAsync(connection, transaction, null, runId, ct).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"Run {runId} does not exist.");
                using var b = store.Command(connection, transaction);
                var id = b.Guid(runId);
                var model = b.Text(run.Model);
                var tasks = string.Join(", ", run.Tasks.Select(t => b.Text(t)));
                // A listed object is one unit of work until a worker records it as a document with a page count, and then
                // one per page; results and failures count only at their object's units, so a page can never be counted
                // against a whole object (or the other way round) and Pending never goes below zero or reaches it early.
                const string items = "run_items ri LEFT JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag";
                var atUnitR = StoreContext.AtUnit("r", "d");
                var atUnitF = StoreContext.AtUnit("f", "d");
                b.Sql.Append(CultureInfo.InvariantCulture, $"""
                    SELECT
                      (SELECT COUNT(*) FROM run_items WHERE run_id = {id}),
                      (SELECT COUNT(*) FROM run_items WHERE run_id = {id} AND enqueued = TRUE),
                      (SELECT COUNT(*) FROM {items} JOIN results r ON r.uri = ri.uri AND r.etag = ri.etag AND r.model = {model} AND r.task IN ({tasks}) WHERE ri.run_id = {id} AND {atUnitR}),
                      (SELECT COUNT(*) FROM {items} JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {model} AND f.task IN ({tasks}) WHERE ri.run_id = {id} AND {atUnitF}),
                      (SELECT COUNT(*) FROM results WHERE run_id = {id} AND updated_at >= {b.Time(store.Now - window)}),
                      (SELECT COUNT(*) FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag WHERE ri.run_id = {id} AND d.page_count > 0),
                      (SELECT COALESCE(SUM(d.page_count), 0) FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag WHERE ri.run_id = {id} AND d.page_count > 0),
                      (SELECT COUNT(*) FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag AND d.page_count > 0
                         JOIN results r ON r.uri = ri.uri AND r.etag = ri.etag AND r.model = {model} AND r.task IN ({tasks}) AND r.page BETWEEN 1 AND d.page_count WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag AND d.page_count > 0
                         JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {model} AND f.task IN ({tasks}) AND f.page BETWEEN 1 AND d.page_count WHERE ri.run_id = {id}),
                      (SELECT COALESCE(SUM(d.page_count
                           - (SELECT COUNT(*) FROM results r WHERE r.uri = f.uri AND r.etag = f.etag AND r.model = f.model AND r.task = f.task AND r.page BETWEEN 1 AND d.page_count)
                           - (SELECT COUNT(*) FROM failures g WHERE g.uri = f.uri AND g.etag = f.etag AND g.model = f.model AND g.task = f.task AND g.page BETWEEN 1 AND d.page_count)), 0)
                         FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag AND d.page_count > 0
                         JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.page = 0 AND f.model = {model} AND f.task IN ({tasks}) WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag WHERE ri.run_id = {id}
                         AND EXISTS (SELECT 1 FROM failures f WHERE f.uri = ri.uri AND f.etag = ri.etag AND f.page = 0 AND f.model = {model} AND f.task IN ({tasks})))
                    """);
                var rows = await StoreContext.ReadAsync(b.Build(), r => Enumerable.Range(0, 12).Select(i => Convert.ToInt64(r.GetValue(i), CultureInfo.InvariantCulture)).ToArray(), ct)
                    .ConfigureAwait(false);
                var c = rows[0];
                var (listed, enqueued, done, failedAtUnits, recent) = (c[0], c[1], c[2], c[3], c[4]);
                var (documents, counted, pages, pagesDone, pagesFailed, undone, documentsFailed) = (c[5], c[6], c[7], c[8], c[9], c[10], c[11]);
                // A document that failed as a whole after its pages were counted (say, publishing its page jobs failed
                // for good) leaves its open pages failed too, or a run would wait for them for ever.
                var failed = failedAtUnits + undone;
                var combinations = (listed - counted + pages) * run.Tasks.Count;
                var pending = Math.Max(0, combinations - done - failed);
                var perMinute = recent / window.TotalMinutes;
                TimeSpan? eta = pending == 0 ? TimeSpan.Zero : perMinute > 0 ? TimeSpan.FromMinutes(pending / perMinute) : null;
                return new RunStatus(runId, run.Name, run.ListingCompleted, listed, enqueued, combinations, done, failed, pending, perMinute, eta)
                {
                    Documents = documents,
                    Pages = pages,
                    PagesDone = pagesDone,
                    PagesFailed = pagesFailed + undone,
                    DocumentsFailed = documentsFailed,
                };
            },
            cancellationToken);
    }

    public async IAsyncEnumerable<ExportRow> ExportRunAsync(Guid runId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var context = store.Factory.CreateDbContext();
        await using (context.ConfigureAwait(false))
        {
            await context.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            var connection = context.Database.GetDbConnection();
            var run = await store.FindRunAsync(connection, null, null, runId, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Run {runId} does not exist.");
            using var b = store.Command(connection, null);
            var model = b.Text(run.Model);
            var id = b.Guid(runId);
            var tasks = string.Join(" UNION ALL ", run.Tasks.Select(t => $"SELECT {b.Text(t)} AS task"));
            // The units of work: page 0 of every listed object without a page count, and pages 1..N of those with one.
            // Only the second branch joins the page numbers, so a run of plain images never pays for them.
            b.Sql.Append(CultureInfo.InvariantCulture, $"""
                WITH RECURSIVE numbers(n) AS (
                  SELECT 1 WHERE EXISTS (SELECT 1 FROM documents WHERE page_count > 0)
                  UNION ALL SELECT n + 1 FROM numbers WHERE n < (SELECT MAX(page_count) FROM documents))
                SELECT u.uri, u.etag, t.task, r.id, r.text, {store.Dialect.JsonText("r.boxes")}, f.reason_code, f.message, i.width, i.height, u.page, u.kind, u.page_count
                FROM (
                  SELECT ri.uri, ri.etag, 0 AS page, d.kind, d.page_count FROM run_items ri LEFT JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag
                  WHERE ri.run_id = {id} AND COALESCE(d.page_count, 0) <= 0
                  UNION ALL
                  SELECT ri.uri, ri.etag, p.n, d.kind, d.page_count FROM run_items ri JOIN documents d ON d.uri = ri.uri AND d.etag = ri.etag AND d.page_count > 0
                  JOIN numbers p ON p.n <= d.page_count
                  WHERE ri.run_id = {id}) u
                CROSS JOIN ({tasks}) t
                LEFT JOIN results r ON r.uri = u.uri AND r.etag = u.etag AND r.page = u.page AND r.model = {model} AND r.task = t.task
                LEFT JOIN failures f ON f.uri = u.uri AND f.etag = u.etag AND f.page = u.page AND f.model = {model} AND f.task = t.task
                LEFT JOIN images i ON i.uri = u.uri AND i.etag = u.etag AND i.page = u.page
                ORDER BY u.uri, u.page, t.task
                """);
            var reader = await b.Build().ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var status = !reader.IsDBNull(3) ? ExportStatus.Ok : !reader.IsDBNull(6) ? ExportStatus.Failed : ExportStatus.Pending;
                    yield return new ExportRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), status,
                        reader.GetNullableString(4), reader.GetNullableString(5), reader.GetNullableString(6), reader.GetNullableString(7),
                        NullableInt(reader, 8), NullableInt(reader, 9))
                    {
                        Page = StoreContext.ReadPage(reader, 10),
                        DocumentKind = reader.GetNullableString(11),
                        PageCount = NullableInt(reader, 12),
                    };
                }
            }
        }
    }

    private static int? NullableInt(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : Convert.ToInt32(reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    public Task<IReadOnlyList<ImageRecord>> GetImagesAsync(IReadOnlyList<ObjectVersion> objects, CancellationToken cancellationToken) =>
        store.ExecuteAsync<IReadOnlyList<ImageRecord>>(
            false,
            async (connection, transaction, ct) =>
            {
                var images = new List<ImageRecord>();
                using var b = store.Command(connection, transaction);
                foreach (var chunk in objects.Chunk(store.Dialect.RowsPerStatement))
                {
                    b.Restart();
                    b.Sql.Append("SELECT i.uri, i.etag, i.width, i.height, i.size, i.page FROM images i JOIN (VALUES ");
                    StoreContext.AppendRows(b, chunk, (o, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(o.Uri)}, {b.Text(o.ETag)}, {b.Int(o.Page)})"));
                    b.Sql.Append(") AS v ON i.uri = v.column1 AND i.etag = v.column2 AND i.page = v.column3");
                    images.AddRange(await StoreContext.ReadAsync(
                        b.Build(),
                        r => new ImageRecord(r.GetString(0), r.GetString(1),
                            Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture), Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture), r.GetLong(4))
                        {
                            Page = Convert.ToInt32(r.GetValue(5), CultureInfo.InvariantCulture),
                        },
                        ct).ConfigureAwait(false));
                }

                return images;
            },
            cancellationToken);
}

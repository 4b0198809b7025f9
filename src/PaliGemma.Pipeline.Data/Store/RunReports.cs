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
                b.Sql.Append(CultureInfo.InvariantCulture, $"""
                    SELECT
                      (SELECT COUNT(*) FROM run_items WHERE run_id = {id}),
                      (SELECT COUNT(*) FROM run_items WHERE run_id = {id} AND enqueued = TRUE),
                      (SELECT COUNT(*) FROM run_items ri JOIN results r ON r.uri = ri.uri AND r.etag = ri.etag AND r.model = {model} AND r.task IN ({tasks}) WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM run_items ri JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {model} AND f.task IN ({tasks}) WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM results WHERE run_id = {id} AND updated_at >= {b.Time(store.Now - window)})
                    """);
                var counts = await StoreContext.ReadAsync(b.Build(), r => (r.GetLong(0), r.GetLong(1), r.GetLong(2), r.GetLong(3), r.GetLong(4)), ct)
                    .ConfigureAwait(false);
                var (listed, enqueued, done, failed, recent) = counts[0];
                var combinations = listed * run.Tasks.Count;
                var pending = Math.Max(0, combinations - done - failed);
                var perMinute = recent / window.TotalMinutes;
                TimeSpan? eta = pending == 0 ? TimeSpan.Zero : perMinute > 0 ? TimeSpan.FromMinutes(pending / perMinute) : null;
                return new RunStatus(runId, run.Name, run.ListingCompleted, listed, enqueued, combinations, done, failed, pending, perMinute, eta);
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
            var tasks = string.Join(" UNION ALL ", run.Tasks.Select(t => $"SELECT {b.Text(t)} AS task"));
            b.Sql.Append(CultureInfo.InvariantCulture, $"""
                SELECT ri.uri, ri.etag, t.task, r.id, r.text, {store.Dialect.JsonText("r.boxes")}, f.reason_code, f.message, i.width, i.height
                FROM run_items ri
                CROSS JOIN ({tasks}) t
                LEFT JOIN results r ON r.uri = ri.uri AND r.etag = ri.etag AND r.model = {model} AND r.task = t.task
                LEFT JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {model} AND f.task = t.task
                LEFT JOIN images i ON i.uri = ri.uri AND i.etag = ri.etag
                WHERE ri.run_id = {b.Guid(runId)}
                ORDER BY ri.uri, t.task
                """);
            var reader = await b.Build().ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var status = !reader.IsDBNull(3) ? ExportStatus.Ok : !reader.IsDBNull(6) ? ExportStatus.Failed : ExportStatus.Pending;
                    yield return new ExportRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), status,
                        reader.GetNullableString(4), reader.GetNullableString(5), reader.GetNullableString(6), reader.GetNullableString(7),
                        reader.IsDBNull(8) ? null : Convert.ToInt32(reader.GetValue(8), CultureInfo.InvariantCulture),
                        reader.IsDBNull(9) ? null : Convert.ToInt32(reader.GetValue(9), CultureInfo.InvariantCulture));
                }
            }
        }
    }

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
                    b.Sql.Append("SELECT i.uri, i.etag, i.width, i.height, i.size FROM images i JOIN (VALUES ");
                    StoreContext.AppendRows(b, chunk, (o, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(o.Uri)}, {b.Text(o.ETag)})"));
                    b.Sql.Append(") AS v ON i.uri = v.column1 AND i.etag = v.column2");
                    images.AddRange(await StoreContext.ReadAsync(
                        b.Build(),
                        r => new ImageRecord(r.GetString(0), r.GetString(1),
                            Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture), Convert.ToInt32(r.GetValue(3), CultureInfo.InvariantCulture), r.GetLong(4)),
                        ct).ConfigureAwait(false));
                }

                return images;
            },
            cancellationToken);
}

using System.Data.Common;
using System.Globalization;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The worker's side of the store: one batch of image facts, results and failures in one transaction, superseding
/// on write (an updated result re-enters the change feed) and, on Postgres, the NOTIFY of the written ids; and the
/// documents a worker expands. Documented on <see cref="ResultStore.WriteBatchAsync"/>.
/// </summary>
internal sealed class BatchWriter(StoreContext store)
{
    public Task RecordDocumentsAsync(IReadOnlyList<DocumentRecord> documents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (documents.Count == 0)
        {
            return Task.CompletedTask;
        }

        return store.ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                using var statements = store.Dialect.BeginStatements(connection, transaction!);
                await statements.AddAsync(DistinctDocuments(documents), AppendDocuments(store.Now), ct).ConfigureAwait(false);
                await statements.FlushAsync(ct).ConfigureAwait(false);
                return 0;
            },
            cancellationToken);
    }

    private static List<DocumentRecord> DistinctDocuments(IReadOnlyList<DocumentRecord> documents) =>
        documents.GroupBy(d => (d.Uri, d.ETag)).Select(g => g.Last()).ToList();

    // A version's page count never changes, so a later record that could not open the document (null) keeps a count
    // recorded earlier; created_at and the first run stay those of the first record.
    private static Action<SqlCommandBuilder, IEnumerable<DocumentRecord>> AppendDocuments(DateTime now) => (b, chunk) =>
    {
        var at = b.Time(now);
        b.Sql.Append("INSERT INTO documents (uri, etag, kind, page_count, size, run_id, created_at) VALUES ");
        StoreContext.AppendRows(b, chunk, (d, s) => s.Append(CultureInfo.InvariantCulture,
            $"({b.Text(d.Uri)}, {b.Text(d.ETag)}, {b.Text(d.Kind)}, {(d.PageCount is { } n ? b.Int(n) : "NULL")}, {b.Long(d.Size)}, {b.Guid(d.RunId)}, {at})"));
        b.Sql.Append(" ON CONFLICT (uri, etag) DO UPDATE SET kind = excluded.kind, page_count = COALESCE(excluded.page_count, documents.page_count), size = excluded.size;\n");
    };

    public Task WriteBatchAsync(ResultBatch batch, CancellationToken cancellationToken) =>
        store.ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                await WriteBatchCoreAsync(connection, transaction!, batch, ct).ConfigureAwait(false);
                return 0;
            },
            cancellationToken);

    /// <summary>The body of <see cref="WriteBatchAsync"/> on a caller's transaction (tests hold it open to delay the commit).</summary>
    public async Task WriteBatchCoreAsync(DbConnection connection, DbTransaction transaction, ResultBatch batch, CancellationToken ct)
    {
        var now = store.Now;
        var dialect = store.Dialect;
        // Deduplicate keys here, for every caller: a batch may carry a redelivered message twice, or an overwritten
        // object's new version may fail in a batch mate too, and ON CONFLICT cannot touch a row twice in one
        // statement. The one rule for every kind of row: the last record given for a key wins, as a later upsert would.
        var images = batch.Images.GroupBy(i => (i.Uri, i.ETag, i.Page)).Select(g => g.Last()).ToList();
        var results = batch.Results.GroupBy(r => (r.Uri, r.ETag, r.Page, r.Model, r.Task)).Select(g => g.Last()).ToList();
        var failures = batch.Failures.GroupBy(f => (f.Uri, f.ETag, f.Page, f.Model, f.Task)).Select(g => g.Last()).ToList();
        var documents = DistinctDocuments(batch.Documents ?? []);
        foreach (var page in results.Select(r => r.Page).Concat(failures.Select(f => f.Page)).Concat(images.Select(i => i.Page)))
        {
            // Pages are 1-based and 0 is the whole object: a negative page is a caller's bug, refused before anything is written.
            ArgumentOutOfRangeException.ThrowIfNegative(page);
        }

        var seqNext = await dialect.FirstChangeSeqAsync(connection, transaction, results.Count, ct).ConfigureAwait(false);

        void AppendImages(SqlCommandBuilder b, IEnumerable<ImageRecord> chunk)
        {
            b.Sql.Append("INSERT INTO images (uri, etag, page, width, height, size) VALUES ");
            StoreContext.AppendRows(b, chunk, (i, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(i.Uri)}, {b.Text(i.ETag)}, {b.Int(i.Page)}, {b.Int(i.Width)}, {b.Int(i.Height)}, {b.Long(i.Size)})"));
            b.Sql.Append(" ON CONFLICT (uri, etag, page) DO UPDATE SET width = excluded.width, height = excluded.height, size = excluded.size;\n");
        }

        void AppendResults(SqlCommandBuilder b, IEnumerable<ResultRecord> chunk)
        {
            var at = b.Time(now);
            var keys = new List<string>();
            b.Sql.Append(dialect.ResultsInsertPrefix);
            b.Sql.Append("INSERT INTO results (uri, etag, page, model, task, text, origin, boxes, prompt_tokens, generated_tokens, latency_ms, run_id, created_at, updated_at, superseded, change_seq) VALUES ");
            StoreContext.AppendRows(b, chunk, (r, s) =>
            {
                var uri = b.Text(r.Uri);
                var etag = b.Text(r.ETag);
                var page = b.Int(r.Page);
                var model = b.Text(r.Model);
                var task = b.Text(r.Task);
                keys.Add($"({uri}, {etag}, {page}, {model}, {task})");
                var rowSeq = dialect.NextChangeSeq(b, ref seqNext);
                s.Append(CultureInfo.InvariantCulture,
                    $"({uri}, {etag}, {page}, {model}, {task}, {b.Text(r.Text)}, {b.Text(r.Origin)}, {b.Json(r.BoxesJson)}, {b.Int(r.PromptTokens)}, {b.Int(r.GeneratedTokens)}, {b.Double(r.LatencyMs)}, {b.Guid(r.RunId)}, {at}, {at}, FALSE, {rowSeq})");
            });
            b.Sql.Append(" ON CONFLICT (uri, etag, page, model, task) DO UPDATE SET text = excluded.text, origin = excluded.origin, boxes = excluded.boxes, prompt_tokens = excluded.prompt_tokens, generated_tokens = excluded.generated_tokens, latency_ms = excluded.latency_ms, run_id = excluded.run_id, updated_at = excluded.updated_at, ");

            // A success replaces any failure of the same key, so it stops counting as failed.
            dialect.AppendResultsTail(b, keys);
        }

        void AppendFailures(SqlCommandBuilder b, IEnumerable<FailureRecord> chunk)
        {
            var at = b.Time(now);
            b.Sql.Append("INSERT INTO failures (uri, etag, page, model, task, reason_code, message, attempts, run_id, created_at, updated_at) SELECT column1, column2, column3, column4, column5, column6, column7, 1, column8, ")
                .Append(at).Append(", ").Append(at).Append(" FROM (VALUES ");
            StoreContext.AppendRows(b, chunk, (f, s) => s.Append(CultureInfo.InvariantCulture,
                $"({b.Text(f.Uri)}, {b.Text(f.ETag)}, {b.Int(f.Page)}, {b.Text(f.Model)}, {b.Text(f.Task)}, {b.Text(f.ReasonCode)}, {b.Text(f.Message)}, {b.Guid(f.RunId)})"));
            // WHERE also disambiguates SQLite's INSERT ... SELECT ... ON CONFLICT grammar.
            b.Sql.Append(") AS v WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.uri = v.column1 AND r.etag = v.column2 AND r.page = v.column3 AND r.model = v.column4 AND r.task = v.column5)");
            b.Sql.Append(" ON CONFLICT (uri, etag, page, model, task) DO UPDATE SET reason_code = excluded.reason_code, message = excluded.message, attempts = failures.attempts + 1, run_id = excluded.run_id, updated_at = excluded.updated_at;\n");
        }

        // Documents, images, results (with the failures they replace), failures: in this order on both databases.
        using var statements = dialect.BeginStatements(connection, transaction);
        await statements.AddAsync(documents, AppendDocuments(now), ct).ConfigureAwait(false);
        await statements.AddAsync(images, AppendImages, ct).ConfigureAwait(false);
        await statements.AddAsync(results, AppendResults, ct).ConfigureAwait(false);
        await statements.AddAsync(failures, AppendFailures, ct).ConfigureAwait(false);
        await statements.FlushAsync(ct).ConfigureAwait(false);
        StoreLog.BatchWritten(store.Logger, results.Count, failures.Count, images.Count);
    }
}

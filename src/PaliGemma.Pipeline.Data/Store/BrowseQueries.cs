using System.Data.Common;
using System.Globalization;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Read queries for the results browser (<c>pgpipe serve</c>) and the CLI: runs, failures, paged search, one result,
/// an object's current results. Members are documented on <see cref="ResultStore"/>.
/// </summary>
internal sealed class BrowseQueries(StoreContext store)
{
    // Longest snippet returned when browsing without search words (no highlighter runs then).
    private const int BrowseSnippetChars = 200;

    public Task<IReadOnlyList<RunInfo>> ListRunsAsync(int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return store.ExecuteAsync<IReadOnlyList<RunInfo>>(
            false,
            async (connection, transaction, ct) =>
            {
                var ids = new List<Guid>();
                using var b = store.Command(connection, transaction);
                b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT id FROM runs ORDER BY created_at DESC, name LIMIT {b.Int(limit)}");
                ids.AddRange(await StoreContext.ReadAsync(b.Build(), r => r.GetNullableGuid(0)!.Value, ct).ConfigureAwait(false));

                // The run table is small; one reader for the row shape keeps RunInfo built in one place.
                var runs = new List<RunInfo>(ids.Count);
                foreach (var id in ids)
                {
                    if (await store.FindRunAsync(connection, transaction, null, id, ct).ConfigureAwait(false) is { } run)
                    {
                        runs.Add(run);
                    }
                }

                return runs;
            },
            cancellationToken);
    }

    public Task<IReadOnlyList<FailureGroup>> GetFailureGroupsAsync(Guid runId, CancellationToken cancellationToken) =>
        store.ExecuteAsync<IReadOnlyList<FailureGroup>>(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = await RunFailuresSqlAsync(connection, transaction, runId, "f.reason_code, COUNT(*), MAX(f.message)", ct).ConfigureAwait(false);
                b.Sql.Append(" GROUP BY f.reason_code ORDER BY COUNT(*) DESC, f.reason_code");
                return await StoreContext.ReadAsync(b.Build(), r => new FailureGroup(r.GetString(0), r.GetLong(1), r.GetNullableString(2)), ct).ConfigureAwait(false);
            },
            cancellationToken);

    public Task<IReadOnlyList<FailureEntry>> GetFailuresAsync(Guid runId, int offset, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return store.ExecuteAsync<IReadOnlyList<FailureEntry>>(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = await RunFailuresSqlAsync(connection, transaction, runId, "f.id, f.uri, f.task, f.reason_code, f.message, f.attempts, f.updated_at, f.page", ct)
                    .ConfigureAwait(false);
                b.Sql.Append(CultureInfo.InvariantCulture, $" ORDER BY f.reason_code, f.uri, f.page, f.task LIMIT {b.Int(limit)} OFFSET {b.Int(offset)}");
                return await StoreContext.ReadAsync(
                    b.Build(),
                    r => new FailureEntry(r.GetLong(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetNullableString(4),
                        Convert.ToInt32(r.GetValue(5), CultureInfo.InvariantCulture), r.GetUtcDateTime(6))
                    { Page = Convert.ToInt32(r.GetValue(7), CultureInfo.InvariantCulture) },
                    ct).ConfigureAwait(false);
            },
            cancellationToken);
    }

    public Task<ResultPage> QueryResultsAsync(ResultQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);
        return store.ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                var text = string.IsNullOrWhiteSpace(query.Text) ? null : query.Text;
                var columns = $"r.id, r.uri, r.task, r.model, r.run_id, {{0}}, {{1}}, {store.Dialect.HasBoxes}, r.page";
                if (text is null)
                {
                    b.Sql.Append("SELECT ").Append(string.Format(CultureInfo.InvariantCulture, columns,
                        $"substr(coalesce(r.text, ''), 1, {BrowseSnippetChars.ToString(CultureInfo.InvariantCulture)})", "0.0"));
                    b.Sql.Append(" FROM current_results r WHERE 1 = 1");
                }
                else if (!store.Dialect.AppendSearch(b, columns, text))
                {
                    return new ResultPage([], false);
                }

                if (query.RunId is { } runId)
                {
                    var run = b.Guid(runId);
                    b.Sql.Append(CultureInfo.InvariantCulture,
                        $" AND r.model = (SELECT model FROM runs WHERE id = {run}) AND EXISTS (SELECT 1 FROM run_items ri WHERE ri.run_id = {run} AND ri.uri = r.uri AND ri.etag = r.etag)");
                }

                if (query.Task is not null)
                {
                    b.Sql.Append(CultureInfo.InvariantCulture, $" AND r.task = {b.Text(query.Task)}");
                }

                if (query.Model is not null)
                {
                    b.Sql.Append(CultureInfo.InvariantCulture, $" AND r.model = {b.Text(query.Model)}");
                }

                // One row past the page says whether another page exists without a COUNT over every match.
                b.Sql.Append(text is null ? " ORDER BY r.id DESC" : " ORDER BY 7 DESC, r.id");
                b.Sql.Append(CultureInfo.InvariantCulture, $" LIMIT {b.Int(query.Limit + 1)} OFFSET {b.Int(query.Offset)}");
                var hits = await StoreContext.ReadAsync(
                    b.Build(),
                    r => new ResultHit(r.GetLong(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetNullableGuid(4),
                        r.GetNullableString(5) ?? string.Empty, Convert.ToDouble(r.GetValue(6), CultureInfo.InvariantCulture), r.GetBool(7))
                    {
                        Page = StoreContext.ReadPage(r, 8),
                    },
                    ct).ConfigureAwait(false);

                var more = hits.Count > query.Limit;
                if (more)
                {
                    hits.RemoveAt(hits.Count - 1);
                }

                return new ResultPage(hits, more);
            },
            cancellationToken);
    }

    public Task<ResultDetail?> GetResultAsync(long id, CancellationToken cancellationToken) =>
        store.ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                var boxes = store.Dialect.JsonText("r.boxes");
                b.Sql.Append(CultureInfo.InvariantCulture, $"""
                    SELECT r.id, r.uri, r.etag, r.model, r.task, r.text, {boxes}, r.prompt_tokens, r.generated_tokens, r.latency_ms,
                           r.run_id, ru.name, ru.source, r.superseded, r.updated_at, i.width, i.height, r.page, r.origin
                    FROM results r
                    LEFT JOIN runs ru ON ru.id = r.run_id
                    LEFT JOIN images i ON i.uri = r.uri AND i.etag = r.etag AND i.page = r.page
                    WHERE r.id = {b.Long(id)}
                    """);
                var details = await StoreContext.ReadAsync(b.Build(), ReadDetail, ct).ConfigureAwait(false);
                return details.Count == 0 ? null : details[0];
            },
            cancellationToken);

    public Task<IReadOnlyList<StoredResult>> GetCurrentResultsAsync(string uri, CancellationToken cancellationToken) =>
        store.ExecuteAsync<IReadOnlyList<StoredResult>>(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"SELECT {StoredColumns} FROM current_results WHERE uri = {b.Text(uri)} ORDER BY page, model, task");
                return await StoreContext.ReadAsync(b.Build(), ReadStored, ct).ConfigureAwait(false);
            },
            cancellationToken);

    public async Task<IReadOnlyList<SearchHit>> SearchAsync(string query, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (string.IsNullOrWhiteSpace(query))
        {
            // No words, no hits (QueryResultsAsync would browse everything instead).
            return [];
        }

        var page = await QueryResultsAsync(new ResultQuery(query, Limit: limit), cancellationToken).ConfigureAwait(false);
        return page.Hits.Select(h => new SearchHit(h.Uri, h.Task, h.Model, h.Snippet, h.Rank) { Page = h.Page }).ToList();
    }

    public Task<DocumentView?> GetDocumentAsync(string uri, string model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(model);
        return store.ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT etag, kind, page_count FROM documents WHERE uri = {b.Text(uri)} ORDER BY created_at DESC, etag LIMIT 1");
                var found = await StoreContext.ReadAsync(
                    b.Build(), r => (ETag: r.GetString(0), Kind: r.GetString(1), PageCount: r.IsDBNull(2) ? (int?)null : Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture)), ct)
                    .ConfigureAwait(false);
                if (found.Count == 0)
                {
                    return null;
                }

                var (etag, kind, pageCount) = found[0];
                b.Restart();
                var u = b.Text(uri);
                var e = b.Text(etag);
                var m = b.Text(model);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"SELECT {StoredColumns} FROM results WHERE uri = {u} AND etag = {e} AND model = {m} AND superseded = FALSE ORDER BY page, task");
                var results = await StoreContext.ReadAsync(b.Build(), ReadStored, ct).ConfigureAwait(false);
                b.Restart();
                u = b.Text(uri);
                e = b.Text(etag);
                m = b.Text(model);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"SELECT page, task, reason_code, message, attempts FROM failures WHERE uri = {u} AND etag = {e} AND model = {m} ORDER BY page, task");
                var failures = await StoreContext.ReadAsync(
                    b.Build(),
                    r => (Page: Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture), Failure: new FailureView(r.GetString(1), r.GetString(2), r.GetNullableString(3),
                        Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture))),
                    ct).ConfigureAwait(false);
                b.Restart();
                b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT page, width, height FROM images WHERE uri = {b.Text(uri)} AND etag = {b.Text(etag)} AND page > 0");
                var sizes = (await StoreContext.ReadAsync(
                        b.Build(),
                        r => (Page: Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture), Width: Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture),
                            Height: Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture)),
                        ct).ConfigureAwait(false))
                    .ToDictionary(x => x.Page);
                return DocumentViews.Build(uri, etag, kind, pageCount, results, failures, sizes);
            },
            cancellationToken);
    }

    private string StoredColumns => $"id, uri, etag, model, task, text, {store.Dialect.JsonText("boxes")}, run_id, updated_at, page";

    private static StoredResult ReadStored(DbDataReader r) =>
        new(r.GetLong(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
            r.GetNullableString(5), r.GetNullableString(6), r.GetNullableGuid(7), r.GetUtcDateTime(8))
        {
            Page = StoreContext.ReadPage(r, 9),
        };

    private static ResultDetail ReadDetail(DbDataReader reader)
    {
        var record = new ResultRecord(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
            reader.GetNullableString(5), reader.GetNullableString(6),
            Convert.ToInt32(reader.GetValue(7), CultureInfo.InvariantCulture), Convert.ToInt32(reader.GetValue(8), CultureInfo.InvariantCulture),
            Convert.ToDouble(reader.GetValue(9), CultureInfo.InvariantCulture), reader.GetNullableGuid(10))
        {
            Page = Convert.ToInt32(reader.GetValue(17), CultureInfo.InvariantCulture),
            Origin = reader.GetNullableString(18),
        };
        return new ResultDetail(reader.GetLong(0), record, reader.GetNullableString(11), reader.GetNullableString(12), reader.GetBool(13),
            reader.GetUtcDateTime(14),
            reader.IsDBNull(15) ? null : Convert.ToInt32(reader.GetValue(15), CultureInfo.InvariantCulture),
            reader.IsDBNull(16) ? null : Convert.ToInt32(reader.GetValue(16), CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// "SELECT {columns} FROM run_items JOIN failures" for the run's model and tasks, the way status counts them. The
    /// caller disposes the builder.
    /// </summary>
    private async Task<SqlCommandBuilder> RunFailuresSqlAsync(DbConnection connection, DbTransaction? transaction, Guid runId, string columns, CancellationToken ct)
    {
        var run = await store.FindRunAsync(connection, transaction, null, runId, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Run {runId} does not exist.");
        var b = store.Command(connection, transaction);
        var tasks = string.Join(", ", run.Tasks.Select(t => b.Text(t)));
        b.Sql.Append(CultureInfo.InvariantCulture,
            $"SELECT {columns} FROM run_items ri JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {b.Text(run.Model)} AND f.task IN ({tasks}) WHERE ri.run_id = {b.Guid(runId)}");
        return b;
    }
}

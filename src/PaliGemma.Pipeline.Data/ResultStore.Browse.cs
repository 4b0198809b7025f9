using System.Data.Common;
using System.Globalization;

namespace PaliGemma.Pipeline.Data;

/// <summary>Read queries for the results browser (<c>pgpipe serve</c>) and the CLI: runs, failures, paged search, one result.</summary>
public sealed partial class ResultStore
{
    // Longest snippet returned when browsing without search words (no highlighter runs then).
    private const int BrowseSnippetChars = 200;

    /// <summary>Runs, newest first (then by name), at most <paramref name="limit"/>.</summary>
    public Task<IReadOnlyList<RunInfo>> ListRunsAsync(int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return ExecuteAsync<IReadOnlyList<RunInfo>>(
            false,
            async (connection, transaction, ct) =>
            {
                var ids = new List<Guid>();
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT id FROM runs ORDER BY created_at DESC, name LIMIT {b.Int(limit)}");
                await using (var command = b.Build())
                await using (var reader = await command.ExecuteReaderAsync(ct))
                {
                    while (await reader.ReadAsync(ct))
                    {
                        ids.Add(reader.GetNullableGuid(0)!.Value);
                    }
                }

                // The run table is small; one reader for the row shape keeps RunInfo built in one place.
                var runs = new List<RunInfo>(ids.Count);
                foreach (var id in ids)
                {
                    if (await FindRunAsync(connection, transaction, null, id, ct) is { } run)
                    {
                        runs.Add(run);
                    }
                }

                return runs;
            },
            cancellationToken);
    }

    /// <summary>
    /// The failures of a run's listed objects (for the run's model and tasks) counted per reason code, largest group
    /// first, with one example message each.
    /// </summary>
    public Task<IReadOnlyList<FailureGroup>> GetFailureGroupsAsync(Guid runId, CancellationToken cancellationToken) =>
        ExecuteAsync<IReadOnlyList<FailureGroup>>(
            false,
            async (connection, transaction, ct) =>
            {
                var b = await RunFailuresSqlAsync(connection, transaction, runId, "f.reason_code, COUNT(*), MAX(f.message)", ct);
                b.Sql.Append(" GROUP BY f.reason_code ORDER BY COUNT(*) DESC, f.reason_code");
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                var groups = new List<FailureGroup>();
                while (await reader.ReadAsync(ct))
                {
                    groups.Add(new FailureGroup(reader.GetString(0), reader.GetLong(1), reader.GetNullableString(2)));
                }

                return groups;
            },
            cancellationToken);

    /// <summary>A page of a run's failures ordered by reason code, object URI and task.</summary>
    public Task<IReadOnlyList<FailureEntry>> GetFailuresAsync(Guid runId, int offset, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return ExecuteAsync<IReadOnlyList<FailureEntry>>(
            false,
            async (connection, transaction, ct) =>
            {
                var b = await RunFailuresSqlAsync(connection, transaction, runId, "f.id, f.uri, f.task, f.reason_code, f.message, f.attempts, f.updated_at", ct);
                b.Sql.Append(CultureInfo.InvariantCulture, $" ORDER BY f.reason_code, f.uri, f.task LIMIT {b.Int(limit)} OFFSET {b.Int(offset)}");
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                var rows = new List<FailureEntry>();
                while (await reader.ReadAsync(ct))
                {
                    rows.Add(new FailureEntry(reader.GetLong(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetNullableString(4),
                        Convert.ToInt32(reader.GetValue(5), CultureInfo.InvariantCulture), reader.GetUtcDateTime(6)));
                }

                return rows;
            },
            cancellationToken);
    }

    /// <summary>
    /// One page of current results: ranked full-text hits when the query has words (Postgres: websearch syntax,
    /// english stemming, ts_rank_cd, highlighted snippet; SQLite: FTS5 porter stemming, every word required, negated
    /// bm25), else every current result newest first. Snippets mark matches with [ and ].
    /// </summary>
    public Task<ResultPage> QueryResultsAsync(ResultQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfNegative(query.Offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.Limit, 1);
        return ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var hits = new List<ResultHit>();
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                var text = string.IsNullOrWhiteSpace(query.Text) ? null : query.Text;
                // CASE, not AND: neither engine promises to short-circuit, and the length functions reject non-arrays.
                var hasBoxes = IsPostgres
                    ? "COALESCE(CASE WHEN jsonb_typeof(r.boxes) = 'array' THEN jsonb_array_length(r.boxes) > 0 ELSE FALSE END, FALSE)"
                    : "COALESCE(CASE WHEN json_valid(r.boxes) THEN json_array_length(r.boxes) > 0 ELSE 0 END, 0)";
                var columns = $"r.id, r.uri, r.task, r.model, r.run_id, {{0}}, {{1}}, {hasBoxes}";
                if (text is null)
                {
                    b.Sql.Append("SELECT ").Append(string.Format(CultureInfo.InvariantCulture, columns,
                        $"substr(coalesce(r.text, ''), 1, {BrowseSnippetChars.ToString(CultureInfo.InvariantCulture)})", "0.0"));
                    b.Sql.Append(" FROM current_results r WHERE 1 = 1");
                }
                else if (IsPostgres)
                {
                    b.Sql.Append("SELECT ").Append(string.Format(CultureInfo.InvariantCulture, columns,
                        "ts_headline('english', coalesce(r.text, ''), q, 'StartSel=[, StopSel=], MaxWords=24, MinWords=8')", "ts_rank_cd(r.search_vector, q)"));
                    b.Sql.Append(CultureInfo.InvariantCulture, $" FROM current_results r, websearch_to_tsquery('english', {b.Text(text)}) q WHERE r.search_vector @@ q");
                }
                else
                {
                    var match = FtsQuery(text);
                    if (match.Length == 0)
                    {
                        // Only punctuation: nothing can match, and FTS5 would reject an empty MATCH.
                        return new ResultPage(hits, false);
                    }

                    b.Sql.Append("SELECT ").Append(string.Format(CultureInfo.InvariantCulture, columns,
                        "snippet(results_fts, 0, '[', ']', '...', 16)", "-bm25(results_fts)"));
                    b.Sql.Append(CultureInfo.InvariantCulture, $" FROM results_fts JOIN current_results r ON r.id = results_fts.rowid WHERE results_fts MATCH {b.Text(match)}");
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
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    hits.Add(new ResultHit(reader.GetLong(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetNullableGuid(4),
                        reader.GetNullableString(5) ?? string.Empty, Convert.ToDouble(reader.GetValue(6), CultureInfo.InvariantCulture), reader.GetBool(7)));
                }

                var more = hits.Count > query.Limit;
                if (more)
                {
                    hits.RemoveAt(hits.Count - 1);
                }

                return new ResultPage(hits, more);
            },
            cancellationToken);
    }

    /// <summary>One result row by id (current or superseded), or null.</summary>
    public Task<ResultDetail?> GetResultAsync(long id, CancellationToken cancellationToken) =>
        ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                var boxes = IsPostgres ? "r.boxes::text" : "r.boxes";
                b.Sql.Append(CultureInfo.InvariantCulture, $"""
                    SELECT r.id, r.uri, r.etag, r.model, r.task, r.text, {boxes}, r.prompt_tokens, r.generated_tokens, r.latency_ms,
                           r.run_id, ru.name, ru.source, r.superseded, r.updated_at, i.width, i.height
                    FROM results r
                    LEFT JOIN runs ru ON ru.id = r.run_id
                    LEFT JOIN images i ON i.uri = r.uri AND i.etag = r.etag
                    WHERE r.id = {b.Long(id)}
                    """);
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                if (!await reader.ReadAsync(ct))
                {
                    return null;
                }

                var record = new ResultRecord(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                    reader.GetNullableString(5), reader.GetNullableString(6),
                    Convert.ToInt32(reader.GetValue(7), CultureInfo.InvariantCulture), Convert.ToInt32(reader.GetValue(8), CultureInfo.InvariantCulture),
                    Convert.ToDouble(reader.GetValue(9), CultureInfo.InvariantCulture), reader.GetNullableGuid(10));
                return new ResultDetail(reader.GetLong(0), record, reader.GetNullableString(11), reader.GetNullableString(12), reader.GetBool(13),
                    reader.GetUtcDateTime(14),
                    reader.IsDBNull(15) ? null : Convert.ToInt32(reader.GetValue(15), CultureInfo.InvariantCulture),
                    reader.IsDBNull(16) ? null : Convert.ToInt32(reader.GetValue(16), CultureInfo.InvariantCulture));
            },
            cancellationToken);

    /// <summary>"SELECT {columns} FROM run_items JOIN failures" for the run's model and tasks, the way status counts them.</summary>
    private async Task<SqlCommandBuilder> RunFailuresSqlAsync(DbConnection connection, DbTransaction? transaction, Guid runId, string columns, CancellationToken ct)
    {
        var run = await FindRunAsync(connection, transaction, null, runId, ct)
            ?? throw new InvalidOperationException($"Run {runId} does not exist.");
        var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
        var tasks = string.Join(", ", run.Tasks.Select(t => b.Text(t)));
        b.Sql.Append(CultureInfo.InvariantCulture,
            $"SELECT {columns} FROM run_items ri JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {b.Text(run.Model)} AND f.task IN ({tasks}) WHERE ri.run_id = {b.Guid(runId)}");
        return b;
    }
}

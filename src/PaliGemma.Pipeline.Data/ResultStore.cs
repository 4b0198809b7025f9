using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The result store used by the producer, the workers and the CLI. Every method opens a short-lived context
/// and runs inside the provider's execution strategy (Postgres retries transient faults; a retried batch is
/// safe because every write is an idempotent upsert). Bulk statements use hand-written SQL so that a worker
/// batch is one transaction on both providers: on Postgres multi-row statements in few round trips, on SQLite
/// the same statements one row at a time on reused prepared commands (no round trips to save in-process, and
/// Microsoft.Data.Sqlite's by-name binding makes many-parameter statements quadratically slow).
/// </summary>
public sealed partial class ResultStore
{
    /// <summary>Postgres NOTIFY channel carrying comma-separated result ids (empty when too many for one payload).</summary>
    public const string NotifyChannel = "pgpipe_results";

    // Postgres caps parameters per statement at 65535 and SQLite at 32766; rows x 12 parameters stays below.
    private const int MaxRowsPerStatement = 1000;

    // SQLite writes one row per statement on one reused, prepared command (see SqlCommandBuilder.Rewind): binding
    // by name makes a statement's cost grow with the square of its parameters, and in-process there is no round
    // trip for multi-row statements to save.
    private const int SqliteRowsPerStatement = 1;

    // A command holding several statements is flushed once it passes this many parameters.
    private const int MaxParametersPerCommand = 20_000;

    private readonly PipelineDbContextFactory _factory;
    private readonly TimeProvider _time;
    private readonly ILogger<ResultStore> _logger;

    /// <summary>Creates the store.</summary>
    public ResultStore(PipelineDbContextFactory factory, TimeProvider time, ILogger<ResultStore> logger)
    {
        _factory = factory;
        _time = time;
        _logger = logger;
    }

    /// <summary>The provider in use.</summary>
    public DatabaseProvider Provider => _factory.Provider;

    private bool IsPostgres => _factory.Provider == DatabaseProvider.Postgres;

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    /// <summary>
    /// Applies pending EF Core migrations of the configured provider. Never called implicitly: `pgpipe migrate`
    /// and the embedded mode's first use call it.
    /// </summary>
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var context = _factory.CreateDbContext();
        var strategy = context.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(
            async ct =>
            {
                var pending = (await context.Database.GetPendingMigrationsAsync(ct)).ToList();
                await context.Database.MigrateAsync(ct);
                if (!IsPostgres)
                {
                    // WAL lets readers (status, export, feed) run while a worker batch writes; it persists in the file.
                    await context.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
                }
                Log.Migrated(_logger, _factory.Provider, pending.Count);
            },
            cancellationToken);
    }

    /// <summary>
    /// Postgres: gives existing roles the worker, producer and read-only privileges of <see cref="DatabaseRoles"/>, in one
    /// transaction. Run it as the migration role (the tables' owner) after <see cref="MigrateAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The store is SQLite, which has no roles.</exception>
    public async Task GrantRolesAsync(DatabaseRoleGrants grants, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grants);
        if (grants.IsEmpty)
        {
            return;
        }

        if (!IsPostgres)
        {
            throw new InvalidOperationException("Role grants need Database:Provider=Postgres; a SQLite file has no roles (protect it with file permissions).");
        }

        var statements = DatabaseRoles.GrantStatements(grants);
        await ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                foreach (var sql in statements)
                {
                    await using var command = connection.CreateCommand();
                    command.Transaction = transaction;
                    command.CommandText = sql;
                    await command.ExecuteNonQueryAsync(ct);
                }

                return 0;
            },
            cancellationToken);
        Log.RolesGranted(_logger, grants.Worker ?? "-", grants.Producer ?? "-", grants.Reader ?? "-");
    }

    /// <summary>Creates a run. Throws <see cref="InvalidOperationException"/> if the name is taken (use GetRunAsync(name) to resume).</summary>
    public Task<RunInfo> CreateRunAsync(RunDefinition definition, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(definition.Name);
        if (definition.Tasks.Count == 0)
        {
            throw new ArgumentException($"Run '{definition.Name}' has no tasks; at least one task key is required.", nameof(definition));
        }

        var id = Guid.NewGuid();
        var created = Now;
        return ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                if (await FindRunAsync(connection, transaction, definition.Name, null, ct) is { } existing)
                {
                    throw new InvalidOperationException(
                        $"A run named '{definition.Name}' already exists (id {existing.Id}); resume it with GetRunAsync instead of creating it again.");
                }

                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"INSERT INTO runs (id, name, source, model, tasks, created_at, last_listed_key, listing_completed, listed_count, enqueued_count) VALUES ({b.Guid(id)}, {b.Text(definition.Name)}, {b.Text(definition.Source)}, {b.Text(definition.Model)}, {b.Json(JsonSerializer.Serialize(definition.Tasks))}, {b.Time(created)}, NULL, FALSE, 0, 0)");
                await using var command = b.Build();
                await command.ExecuteNonQueryAsync(ct);
                return new RunInfo(id, definition.Name, definition.Source, definition.Model, definition.Tasks, created, null, false, 0, 0);
            },
            cancellationToken);
    }

    /// <summary>Finds a run by name, or null.</summary>
    public Task<RunInfo?> GetRunAsync(string name, CancellationToken cancellationToken) =>
        ExecuteAsync(false, (c, t, ct) => FindRunAsync(c, t, name, null, ct), cancellationToken);

    /// <summary>Finds a run by id, or null.</summary>
    public Task<RunInfo?> GetRunAsync(Guid id, CancellationToken cancellationToken) =>
        ExecuteAsync(false, (c, t, ct) => FindRunAsync(c, t, null, id, ct), cancellationToken);

    /// <summary>
    /// Records one listed page of a run (one transaction): inserts run_items (existing (run, uri) rows are kept,
    /// so a resumed producer never duplicates), advances the resume key and the counts.
    /// Publish the page's jobs before calling this: a crash in between re-publishes, which upserts harmlessly.
    /// </summary>
    /// <returns>How many items were new to the run or came back with a new ETag.</returns>
    public Task<int> RecordListedPageAsync(Guid runId, IReadOnlyList<RunItemRecord> items, string? lastListedKey, CancellationToken cancellationToken) =>
        RecordListedCoreAsync(runId, null, items, lastListedKey, cancellationToken);

    /// <summary>
    /// <see cref="RecordListedPageAsync"/> for one partition of a parallel listing: the page's run items, the run's counts
    /// and the partition's resume key, in one transaction. The run's own resume key is left alone (it would be wrong for
    /// every other partition).
    /// </summary>
    /// <returns>How many items were new to the run or came back with a new ETag.</returns>
    public Task<int> RecordListedPartitionPageAsync(Guid runId, string partition, IReadOnlyList<RunItemRecord> items, string lastKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(lastKey);
        return RecordListedCoreAsync(runId, (partition, lastKey), items, null, cancellationToken);
    }

    /// <summary>Marks one partition of a parallel listing as listed to its end.</summary>
    public Task CompleteListingPartitionAsync(Guid runId, string partition, CancellationToken cancellationToken) =>
        ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"INSERT INTO run_partitions (run_id, partition, last_key, completed) VALUES ({b.Guid(runId)}, {b.Text(partition)}, NULL, TRUE) ON CONFLICT (run_id, partition) DO UPDATE SET completed = TRUE");
                await using var command = b.Build();
                return await command.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);

    /// <summary>Resume points of a parallel listing in progress: partition → (last recorded key, listed to its end).</summary>
    public Task<IReadOnlyDictionary<string, ListingPartition>> GetListingPartitionsAsync(Guid runId, CancellationToken cancellationToken) =>
        ExecuteAsync<IReadOnlyDictionary<string, ListingPartition>>(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT partition, last_key, completed FROM run_partitions WHERE run_id = {b.Guid(runId)}");
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                var partitions = new Dictionary<string, ListingPartition>(StringComparer.Ordinal);
                while (await reader.ReadAsync(ct))
                {
                    partitions[reader.GetString(0)] = new ListingPartition(reader.GetNullableString(1), reader.GetBool(2));
                }

                return partitions;
            },
            cancellationToken);

    private Task<int> RecordListedCoreAsync(Guid runId, (string Name, string LastKey)? partition, IReadOnlyList<RunItemRecord> items, string? lastListedKey,
        CancellationToken cancellationToken) =>
        ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                int inserted = 0, enqueued = 0;
                var distinct = items.DistinctBy(i => i.Uri, StringComparer.Ordinal).ToList();
                // A resumed pass re-lists keys it already recorded: same ETag, nothing to do. A new pass over a
                // changed object updates its ETag so status and export follow the version this pass enqueued.
                const string upsert = " ON CONFLICT (run_id, uri) DO UPDATE SET etag = excluded.etag, size = excluded.size, enqueued = excluded.enqueued WHERE run_items.etag <> excluded.etag RETURNING enqueued";
                if (IsPostgres)
                {
                    // One statement with one array per column: Postgres plans it once, whereas a VALUES list of a
                    // page's 4,000 parameters cost more to parse and plan than to run (profiled: most of a nightly page).
                    var run = runId;
                    var command = (NpgsqlCommand)connection.CreateCommand();
                    await using (command)
                    {
                        command.Transaction = (NpgsqlTransaction?)transaction;
                        command.CommandText = "INSERT INTO run_items (run_id, uri, etag, size, enqueued) SELECT @run, u, e, s, q FROM unnest(@u, @e, @s, @q) AS v(u, e, s, q)" + upsert;
                        command.Parameters.AddWithValue("run", run);
                        command.Parameters.AddWithValue("u", distinct.Select(i => i.Uri).ToArray());
                        command.Parameters.AddWithValue("e", distinct.Select(i => i.ETag).ToArray());
                        command.Parameters.AddWithValue("s", distinct.Select(i => i.Size).ToArray());
                        command.Parameters.AddWithValue("q", distinct.Select(i => i.Enqueued).ToArray());
                        await using var reader = await command.ExecuteReaderAsync(ct);
                        while (await reader.ReadAsync(ct))
                        {
                            inserted++;
                            enqueued += reader.GetBoolean(0) ? 1 : 0;
                        }
                    }
                }
                else
                {
                    await using var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                    foreach (var chunk in distinct.Chunk(RowsPerStatement))
                    {
                        b.Restart();
                        var run = b.Guid(runId);
                        b.Sql.Append("INSERT INTO run_items (run_id, uri, etag, size, enqueued) VALUES ");
                        AppendRows(b, chunk, (i, s) => s.Append(CultureInfo.InvariantCulture, $"({run}, {b.Text(i.Uri)}, {b.Text(i.ETag)}, {b.Long(i.Size)}, {b.Bool(i.Enqueued)})"));
                        b.Sql.Append(upsert);
                        await using var reader = await b.Build().ExecuteReaderAsync(ct);
                        while (await reader.ReadAsync(ct))
                        {
                            inserted++;
                            enqueued += reader.GetBool(0) ? 1 : 0;
                        }
                    }
                }

                var u = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                u.Sql.Append(CultureInfo.InvariantCulture,
                    $"UPDATE runs SET last_listed_key = COALESCE({u.Text(lastListedKey)}, last_listed_key), listed_count = listed_count + {u.Long(inserted)}, enqueued_count = enqueued_count + {u.Long(enqueued)} WHERE id = {u.Guid(runId)}");
                await using var update = u.Build();
                if (await update.ExecuteNonQueryAsync(ct) != 1)
                {
                    throw new InvalidOperationException($"Run {runId} does not exist; create it with CreateRunAsync first.");
                }

                if (partition is { } p)
                {
                    var k = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                    k.Sql.Append(CultureInfo.InvariantCulture,
                        $"INSERT INTO run_partitions (run_id, partition, last_key, completed) VALUES ({k.Guid(runId)}, {k.Text(p.Name)}, {k.Text(p.LastKey)}, FALSE) ON CONFLICT (run_id, partition) DO UPDATE SET last_key = excluded.last_key");
                    await using var checkpoint = k.Build();
                    await checkpoint.ExecuteNonQueryAsync(ct);
                }

                return inserted;
            },
            cancellationToken);

    /// <summary>
    /// Starts a new listing pass of a completed run (the nightly re-run of the same command): clears the resume key
    /// and the completed flag. Items and results stay; the new pass skips what already has results.
    /// </summary>
    public Task RestartListingAsync(Guid runId, CancellationToken cancellationToken) =>
        UpdateRunAsync(runId, "last_listed_key = NULL, listing_completed = FALSE", cancellationToken);

    /// <summary>
    /// Marks the run's listing complete and drops its partition resume points (the next pass starts over); required
    /// before <see cref="MarkSupersededMissingAsync"/>.
    /// </summary>
    public async Task CompleteListingAsync(Guid runId, CancellationToken cancellationToken)
    {
        await UpdateRunAsync(runId, "listing_completed = TRUE", cancellationToken);
        await ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                b.Sql.Append(CultureInfo.InvariantCulture, $"DELETE FROM run_partitions WHERE run_id = {b.Guid(runId)}");
                await using var command = b.Build();
                return await command.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);
    }

    private Task UpdateRunAsync(Guid runId, string assignments, CancellationToken cancellationToken) =>
        ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                b.Sql.Append(CultureInfo.InvariantCulture, $"UPDATE runs SET {assignments} WHERE id = {b.Guid(runId)}");
                await using var command = b.Build();
                return await command.ExecuteNonQueryAsync(ct);
            },
            cancellationToken);

    /// <summary>
    /// Skip-existing lookup for the producer, one round trip per page: which (uri, etag, task) of the page
    /// already have a successful result for <paramref name="model"/>. Failed combinations are not returned, so
    /// the next run retries them. Superseded rows count as existing, so call <see cref="MarkSupersededByNewEtagAsync"/>
    /// for the page first: it revives results of an object that came back with the same ETag.
    /// </summary>
    public Task<IReadOnlySet<ExistingResult>> FindExistingResultsAsync(
        IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks, CancellationToken cancellationToken) =>
        ExecuteAsync<IReadOnlySet<ExistingResult>>(
            false,
            async (connection, transaction, ct) =>
            {
                var found = new HashSet<ExistingResult>();
                if (page.Count == 0 || tasks.Count == 0)
                {
                    return found;
                }

                if (IsPostgres)
                {
                    await using var command = ExistingResultsCommand(connection, page, model, tasks);
                    await ReadExistingAsync(command, found, ct);
                    return found;
                }

                await using var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                foreach (var chunk in page.Chunk(RowsPerStatement))
                {
                    b.Restart();
                    b.Sql.Append("SELECT r.uri, r.etag, r.task FROM results r JOIN (VALUES ");
                    AppendRows(b, chunk, (o, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(o.Uri)}, {b.Text(o.ETag)})"));
                    b.Sql.Append(CultureInfo.InvariantCulture, $") AS v ON r.uri = v.column1 AND r.etag = v.column2 WHERE r.model = {b.Text(model)} AND r.task IN (");
                    b.Sql.AppendJoin(", ", tasks.Select(t => b.Text(t)));
                    b.Sql.Append(')');
                    await using var reader = await b.Build().ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        found.Add(new ExistingResult(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
                    }
                }

                return found;
            },
            cancellationToken);

    /// <summary>
    /// Persists one worker batch in one transaction: image facts, results (upsert on (uri, etag, model, task);
    /// an update re-enters the change feed), deletion of failures the results replace, and failures (attempts
    /// counted; skipped where a result exists). On Postgres a NOTIFY with the written ids is sent on commit.
    /// </summary>
    public Task WriteBatchAsync(ResultBatch batch, CancellationToken cancellationToken) =>
        ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                await WriteBatchCoreAsync(connection, transaction!, batch, ct);
                return 0;
            },
            cancellationToken);

    /// <summary>The body of <see cref="WriteBatchAsync"/> on a caller's transaction (tests hold it open to delay the commit).</summary>
    internal async Task WriteBatchCoreAsync(DbConnection connection, DbTransaction transaction, ResultBatch batch, CancellationToken ct)
    {
        var now = Now;
        // Deduplicate keys here, for every caller: a batch may carry a redelivered message twice, or an overwritten
        // object's new version may fail in a batch mate too, and ON CONFLICT cannot touch a row twice in one
        // statement. The one rule for every kind of row: the last record given for a key wins, as a later upsert would.
        var images = batch.Images.GroupBy(i => (i.Uri, i.ETag)).Select(g => g.Last()).ToList();
        var results = batch.Results.GroupBy(r => (r.Uri, r.ETag, r.Model, r.Task)).Select(g => g.Last()).ToList();
        var failures = batch.Failures.GroupBy(f => (f.Uri, f.ETag, f.Model, f.Task)).Select(g => g.Last()).ToList();

        // SQLite: BEGIN IMMEDIATE holds the single write lock, so max+1, max+2, ... is commit-ordered.
        var seqNext = IsPostgres || results.Count == 0 ? 0 : await MaxChangeSeqAsync(connection, transaction, ct) + 1;

        void AppendImages(SqlCommandBuilder b, IEnumerable<ImageRecord> chunk)
        {
            b.Sql.Append("INSERT INTO images (uri, etag, width, height, size) VALUES ");
            AppendRows(b, chunk, (i, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(i.Uri)}, {b.Text(i.ETag)}, {b.Int(i.Width)}, {b.Int(i.Height)}, {b.Long(i.Size)})"));
            b.Sql.Append(" ON CONFLICT (uri, etag) DO UPDATE SET width = excluded.width, height = excluded.height, size = excluded.size;\n");
        }

        void AppendResults(SqlCommandBuilder b, IEnumerable<ResultRecord> chunk)
        {
            var at = b.Time(now);
            var keys = new List<string>();
            if (IsPostgres)
            {
                b.Sql.Append("WITH up AS (");
            }

            b.Sql.Append("INSERT INTO results (uri, etag, model, task, text, boxes, prompt_tokens, generated_tokens, latency_ms, run_id, created_at, updated_at, superseded, change_seq) VALUES ");
            AppendRows(b, chunk, (r, s) =>
            {
                var uri = b.Text(r.Uri);
                var etag = b.Text(r.ETag);
                var model = b.Text(r.Model);
                var task = b.Text(r.Task);
                keys.Add($"({uri}, {etag}, {model}, {task})");
                var rowSeq = IsPostgres ? "nextval('results_change_seq')" : b.Long(seqNext++);
                s.Append(CultureInfo.InvariantCulture,
                    $"({uri}, {etag}, {model}, {task}, {b.Text(r.Text)}, {b.Json(r.BoxesJson)}, {b.Int(r.PromptTokens)}, {b.Int(r.GeneratedTokens)}, {b.Double(r.LatencyMs)}, {b.Guid(r.RunId)}, {at}, {at}, FALSE, {rowSeq})");
            });
            b.Sql.Append(" ON CONFLICT (uri, etag, model, task) DO UPDATE SET text = excluded.text, boxes = excluded.boxes, prompt_tokens = excluded.prompt_tokens, generated_tokens = excluded.generated_tokens, latency_ms = excluded.latency_ms, run_id = excluded.run_id, updated_at = excluded.updated_at, ");

            // A success replaces any failure of the same key, so it stops counting as failed. On Postgres the
            // written ids go out as a NOTIFY, delivered by the server only when the transaction commits.
            if (IsPostgres)
            {
                b.Sql.Append("change_seq = nextval('results_change_seq'), txid = pg_current_xact_id() RETURNING id), ");
                b.Sql.Append("del AS (DELETE FROM failures WHERE (uri, etag, model, task) IN (VALUES ");
                b.Sql.AppendJoin(", ", keys);
                b.Sql.Append(")) SELECT pg_notify('").Append(NotifyChannel)
                    .Append("', CASE WHEN length(s) <= 7900 THEN s ELSE '' END) FROM (SELECT COALESCE(string_agg(id::text, ','), '') AS s FROM up) q;\n");
            }
            else
            {
                b.Sql.Append("change_seq = excluded.change_seq;\n");
                b.Sql.Append("DELETE FROM failures WHERE (uri, etag, model, task) IN (VALUES ");
                b.Sql.AppendJoin(", ", keys);
                b.Sql.Append(");\n");
            }
        }

        void AppendFailures(SqlCommandBuilder b, IEnumerable<FailureRecord> chunk)
        {
            var at = b.Time(now);
            b.Sql.Append("INSERT INTO failures (uri, etag, model, task, reason_code, message, attempts, run_id, created_at, updated_at) SELECT column1, column2, column3, column4, column5, column6, 1, column7, ")
                .Append(at).Append(", ").Append(at).Append(" FROM (VALUES ");
            AppendRows(b, chunk, (f, s) => s.Append(CultureInfo.InvariantCulture,
                $"({b.Text(f.Uri)}, {b.Text(f.ETag)}, {b.Text(f.Model)}, {b.Text(f.Task)}, {b.Text(f.ReasonCode)}, {b.Text(f.Message)}, {b.Guid(f.RunId)})"));
            // WHERE also disambiguates SQLite's INSERT ... SELECT ... ON CONFLICT grammar.
            b.Sql.Append(") AS v WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.uri = v.column1 AND r.etag = v.column2 AND r.model = v.column3 AND r.task = v.column4)");
            b.Sql.Append(" ON CONFLICT (uri, etag, model, task) DO UPDATE SET reason_code = excluded.reason_code, message = excluded.message, attempts = failures.attempts + 1, run_id = excluded.run_id, updated_at = excluded.updated_at;\n");
        }

        if (!IsPostgres)
        {
            // Same statements as on Postgres, one row each, in the same order: images, results (with the failures
            // they replace), failures. Each kind keeps one command, so SQLite prepares its statements once a batch.
            await RunPerRowAsync(connection, transaction, images, AppendImages, ct);
            await RunPerRowAsync(connection, transaction, results, AppendResults, ct);
            await RunPerRowAsync(connection, transaction, failures, AppendFailures, ct);
            Log.BatchWritten(_logger, results.Count, failures.Count, images.Count);
            return;
        }

        // All statements of a normal-sized batch go in one command: Npgsql sends them in one round trip
        // (BEGIN rides along), so a worker batch costs this command plus COMMIT. Huge batches are split.
        var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
        async Task FlushIfFullAsync()
        {
            if (b.ParameterCount > MaxParametersPerCommand)
            {
                await RunCommandAsync(b);
                b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
            }
        }

        async Task RunCommandAsync(SqlCommandBuilder builder)
        {
            if (builder.Sql.Length == 0)
            {
                return;
            }

            await using var command = builder.Build();
            await command.ExecuteNonQueryAsync(ct);
        }

        foreach (var chunk in images.Chunk(MaxRowsPerStatement))
        {
            AppendImages(b, chunk);
            await FlushIfFullAsync();
        }

        foreach (var chunk in results.Chunk(MaxRowsPerStatement))
        {
            AppendResults(b, chunk);
            await FlushIfFullAsync();
        }

        foreach (var chunk in failures.Chunk(MaxRowsPerStatement))
        {
            AppendFailures(b, chunk);
            await FlushIfFullAsync();
        }

        await RunCommandAsync(b);
        Log.BatchWritten(_logger, results.Count, failures.Count, images.Count);
    }

    /// <summary>
    /// Superseding case (a): for each listed object version, results of the same URI with another ETag become
    /// superseded, and results with this ETag are revived (an object that came back). Call once per listed page.
    /// </summary>
    /// <returns>Rows whose superseded flag changed.</returns>
    public Task<int> MarkSupersededByNewEtagAsync(IReadOnlyList<ObjectVersion> listed, CancellationToken cancellationToken) =>
        ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                if (IsPostgres)
                {
                    await using var command = SupersedeCommand(connection, listed);
                    return Convert.ToInt32(await command.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
                }

                var changed = 0;
                var now = Now;
                var seqBase = await ChangeBaseAsync(connection, transaction, ct);
                await using var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                foreach (var chunk in listed.DistinctBy(o => o.Uri, StringComparer.Ordinal).Chunk(RowsPerStatement))
                {
                    b.Restart();
                    var bump = ChangeBump(b, seqBase);
                    b.Sql.Append(CultureInfo.InvariantCulture, $"UPDATE results SET superseded = (results.etag <> v.column2), updated_at = {b.Time(now)}, {bump} FROM (VALUES ");
                    AppendRows(b, chunk, (o, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(o.Uri)}, {b.Text(o.ETag)})"));
                    b.Sql.Append(") AS v WHERE results.uri = v.column1 AND results.superseded <> (results.etag <> v.column2)");
                    AppendWakeUp(b);
                    changed += await b.Build().ExecuteNonQueryAsync(ct);
                }

                return changed;
            },
            cancellationToken);

    /// <summary>
    /// The producer's per-page lookup: <see cref="MarkSupersededByNewEtagAsync"/> and then
    /// <see cref="FindExistingResultsAsync"/> for the same page. On Postgres both statements go in one round trip
    /// (they are independent: superseded rows count as existing); on SQLite, in-process, they run one after the other.
    /// </summary>
    /// <returns>Rows whose superseded flag changed, and the page's combinations that already have results.</returns>
    public async Task<(int Superseded, IReadOnlySet<ExistingResult> Existing)> SupersedeAndFindExistingAsync(
        IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(tasks);
        if (!IsPostgres || page.Count == 0 || tasks.Count == 0)
        {
            var superseded = await MarkSupersededByNewEtagAsync(page, cancellationToken);
            return (superseded, await FindExistingResultsAsync(page, model, tasks, cancellationToken));
        }

        return await ExecuteAsync<(int, IReadOnlySet<ExistingResult>)>(
            false,
            async (connection, _, ct) =>
            {
                var batch = new NpgsqlBatch((NpgsqlConnection)connection);
                await using (batch)
                {
                    // One round trip; Npgsql sends both under one Sync, so they commit or fail together.
                    var supersede = SupersedeCommand(connection, page);
                    var existing = ExistingResultsCommand(connection, page, model, tasks);
                    batch.BatchCommands.Add(ToBatchCommand(supersede));
                    batch.BatchCommands.Add(ToBatchCommand(existing));
                    await supersede.DisposeAsync();
                    await existing.DisposeAsync();
                    await using var reader = await batch.ExecuteReaderAsync(ct);
                    await reader.ReadAsync(ct);
                    var changed = Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture);
                    await reader.NextResultAsync(ct);
                    var found = new HashSet<ExistingResult>();
                    while (await reader.ReadAsync(ct))
                    {
                        found.Add(new ExistingResult(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
                    }

                    return (changed, found);
                }
            },
            cancellationToken);
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
    /// Postgres: supersede case (a) for a page as one statement over arrays; returns the changed row count, and wakes
    /// feed readers only when a row changed (a nightly page that changes nothing stays silent).
    /// </summary>
    private NpgsqlCommand SupersedeCommand(DbConnection connection, IReadOnlyList<ObjectVersion> listed)
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
            SELECT c, CASE WHEN c > 0 THEN pg_notify('{NotifyChannel}', '') END FROM n
            """;
        command.Parameters.AddWithValue("now", DateTime.SpecifyKind(Now, DateTimeKind.Utc));
        command.Parameters.AddWithValue("u", distinct.Select(o => o.Uri).ToArray());
        command.Parameters.AddWithValue("e", distinct.Select(o => o.ETag).ToArray());
        return command;
    }

    /// <summary>Postgres: the skip-existing lookup for a page as one statement over arrays.</summary>
    private static NpgsqlCommand ExistingResultsCommand(DbConnection connection, IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks)
    {
        var command = (NpgsqlCommand)connection.CreateCommand();
        command.CommandText = "SELECT r.uri, r.etag, r.task FROM results r JOIN unnest(@u, @e) AS v(u, e) ON r.uri = v.u AND r.etag = v.e WHERE r.model = @m AND r.task = ANY(@t)";
        command.Parameters.AddWithValue("u", page.Select(o => o.Uri).ToArray());
        command.Parameters.AddWithValue("e", page.Select(o => o.ETag).ToArray());
        command.Parameters.AddWithValue("m", model);
        command.Parameters.AddWithValue("t", tasks.ToArray());
        return command;
    }

    private static async Task ReadExistingAsync(NpgsqlCommand command, HashSet<ExistingResult> found, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            found.Add(new ExistingResult(reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }
    }

    /// <summary>
    /// Superseding case (b), mark-and-sweep: run_items of a run whose listing completed are the "mark"; this
    /// sweeps results of the run's model under the run's source whose URI the listing did not see. One
    /// set-based UPDATE, so nothing is loaded into memory however many keys the source holds.
    /// </summary>
    /// <returns>Rows newly superseded.</returns>
    public Task<int> MarkSupersededMissingAsync(Guid runId, CancellationToken cancellationToken) =>
        ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                var run = await FindRunAsync(connection, transaction, null, runId, ct)
                    ?? throw new InvalidOperationException($"Run {runId} does not exist.");
                if (!run.ListingCompleted)
                {
                    throw new InvalidOperationException(
                        $"Run '{run.Name}' has not completed its listing; superseding missing objects after a partial listing would hide live results. Call CompleteListingAsync when the listing reaches its end.");
                }

                if (IsPostgres)
                {
                    // The run's items were all written during this pass, after the last ANALYZE, so the planner takes
                    // them for one row and picks a nested loop that filters every item of the run for every result:
                    // measured 8 s for 10,000 keys, quadratic beyond. Without nested loops it hashes or merges, linear.
                    await using var planner = connection.CreateCommand();
                    planner.Transaction = transaction;
                    planner.CommandText = "SET LOCAL enable_nestloop = off";
                    await planner.ExecuteNonQueryAsync(ct);
                }

                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                var bump = ChangeBump(b, await ChangeBaseAsync(connection, transaction, ct));
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"UPDATE results SET superseded = TRUE, updated_at = {b.Time(Now)}, {bump} WHERE superseded = FALSE AND model = {b.Text(run.Model)} AND substr(uri, 1, {b.Int(run.Source.Length)}) = {b.Text(run.Source)} AND NOT EXISTS (SELECT 1 FROM run_items ri WHERE ri.run_id = {b.Guid(runId)} AND ri.uri = results.uri)");
                AppendWakeUp(b);
                await using var command = b.Build();
                var swept = await command.ExecuteNonQueryAsync(ct);
                Log.SweptMissing(_logger, run.Name, swept);
                return swept;
            },
            cancellationToken);

    /// <summary>Current (latest non-superseded) results of one object, from the current_results view.</summary>
    public Task<IReadOnlyList<StoredResult>> GetCurrentResultsAsync(string uri, CancellationToken cancellationToken) =>
        ExecuteAsync<IReadOnlyList<StoredResult>>(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                var boxes = IsPostgres ? "boxes::text" : "boxes";
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"SELECT id, uri, etag, model, task, text, {boxes}, run_id, updated_at FROM current_results WHERE uri = {b.Text(uri)} ORDER BY model, task");
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                var rows = new List<StoredResult>();
                while (await reader.ReadAsync(ct))
                {
                    rows.Add(new StoredResult(reader.GetLong(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        reader.GetNullableString(5), reader.GetNullableString(6), reader.GetNullableGuid(7), reader.GetUtcDateTime(8)));
                }

                return rows;
            },
            cancellationToken);

    /// <summary>
    /// Full-text search over current results, best first. Postgres: websearch syntax, english stemming,
    /// ts_rank_cd. SQLite: FTS5 with the porter stemmer, every word required, bm25 (negated so higher is better).
    /// </summary>
    public async Task<IReadOnlyList<SearchHit>> SearchAsync(string query, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (string.IsNullOrWhiteSpace(query))
        {
            // No words, no hits (QueryResultsAsync would browse everything instead).
            return [];
        }

        var page = await QueryResultsAsync(new ResultQuery(query, Limit: limit), cancellationToken);
        return page.Hits.Select(h => new SearchHit(h.Uri, h.Task, h.Model, h.Snippet, h.Rank)).ToList();
    }

    /// <summary>
    /// Run progress: listed/enqueued objects, (object, task) combinations done (including results reused from
    /// earlier runs), failed, pending; throughput = results this run wrote in the last <paramref name="window"/>.
    /// </summary>
    public Task<RunStatus> GetRunStatusAsync(Guid runId, TimeSpan window, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        return ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var run = await FindRunAsync(connection, transaction, null, runId, ct)
                    ?? throw new InvalidOperationException($"Run {runId} does not exist.");
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                var id = b.Guid(runId);
                var model = b.Text(run.Model);
                var tasks = string.Join(", ", run.Tasks.Select(t => b.Text(t)));
                b.Sql.Append(CultureInfo.InvariantCulture, $"""
                    SELECT
                      (SELECT COUNT(*) FROM run_items WHERE run_id = {id}),
                      (SELECT COUNT(*) FROM run_items WHERE run_id = {id} AND enqueued = TRUE),
                      (SELECT COUNT(*) FROM run_items ri JOIN results r ON r.uri = ri.uri AND r.etag = ri.etag AND r.model = {model} AND r.task IN ({tasks}) WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM run_items ri JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {model} AND f.task IN ({tasks}) WHERE ri.run_id = {id}),
                      (SELECT COUNT(*) FROM results WHERE run_id = {id} AND updated_at >= {b.Time(Now - window)})
                    """);
                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                long listed = reader.GetLong(0), enqueued = reader.GetLong(1), done = reader.GetLong(2), failed = reader.GetLong(3), recent = reader.GetLong(4);
                var combinations = listed * run.Tasks.Count;
                var pending = Math.Max(0, combinations - done - failed);
                var perMinute = recent / window.TotalMinutes;
                TimeSpan? eta = pending == 0 ? TimeSpan.Zero : perMinute > 0 ? TimeSpan.FromMinutes(pending / perMinute) : null;
                return new RunStatus(runId, run.Name, run.ListingCompleted, listed, enqueued, combinations, done, failed, pending, perMinute, eta);
            },
            cancellationToken);
    }

    /// <summary>
    /// Streams one row per (listed object, task) of a run, ordered by URI then task, joining results (from any
    /// run: reused results count), failures and image sizes by (uri, etag, model, task). Streaming keeps memory
    /// flat for millions of objects; it is not retried, so restart the export on a transient fault.
    /// </summary>
    public async IAsyncEnumerable<ExportRow> ExportRunAsync(Guid runId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var context = _factory.CreateDbContext();
        await context.Database.OpenConnectionAsync(cancellationToken);
        var connection = context.Database.GetDbConnection();
        var run = await FindRunAsync(connection, null, null, runId, cancellationToken)
            ?? throw new InvalidOperationException($"Run {runId} does not exist.");
        var b = new SqlCommandBuilder(connection, null, _factory.Provider);
        var model = b.Text(run.Model);
        var tasks = string.Join(" UNION ALL ", run.Tasks.Select(t => $"SELECT {b.Text(t)} AS task"));
        var boxes = IsPostgres ? "r.boxes::text" : "r.boxes";
        b.Sql.Append(CultureInfo.InvariantCulture, $"""
            SELECT ri.uri, ri.etag, t.task, r.id, r.text, {boxes}, f.reason_code, f.message, i.width, i.height
            FROM run_items ri
            CROSS JOIN ({tasks}) t
            LEFT JOIN results r ON r.uri = ri.uri AND r.etag = ri.etag AND r.model = {model} AND r.task = t.task
            LEFT JOIN failures f ON f.uri = ri.uri AND f.etag = ri.etag AND f.model = {model} AND f.task = t.task
            LEFT JOIN images i ON i.uri = ri.uri AND i.etag = ri.etag
            WHERE ri.run_id = {b.Guid(runId)}
            ORDER BY ri.uri, t.task
            """);
        await using var command = b.Build();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var status = !reader.IsDBNull(3) ? ExportStatus.Ok : !reader.IsDBNull(6) ? ExportStatus.Failed : ExportStatus.Pending;
            yield return new ExportRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), status,
                reader.GetNullableString(4), reader.GetNullableString(5), reader.GetNullableString(6), reader.GetNullableString(7),
                reader.IsDBNull(8) ? null : Convert.ToInt32(reader.GetValue(8), CultureInfo.InvariantCulture),
                reader.IsDBNull(9) ? null : Convert.ToInt32(reader.GetValue(9), CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Width/height per object version (for COCO export of arbitrary sets); unknown versions are absent.</summary>
    public Task<IReadOnlyList<ImageRecord>> GetImagesAsync(IReadOnlyList<ObjectVersion> objects, CancellationToken cancellationToken) =>
        ExecuteAsync<IReadOnlyList<ImageRecord>>(
            false,
            async (connection, transaction, ct) =>
            {
                var images = new List<ImageRecord>();
                await using var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                foreach (var chunk in objects.Chunk(RowsPerStatement))
                {
                    b.Restart();
                    b.Sql.Append("SELECT i.uri, i.etag, i.width, i.height, i.size FROM images i JOIN (VALUES ");
                    AppendRows(b, chunk, (o, s) => s.Append(CultureInfo.InvariantCulture, $"({b.Text(o.Uri)}, {b.Text(o.ETag)})"));
                    b.Sql.Append(") AS v ON i.uri = v.column1 AND i.etag = v.column2");
                    await using var reader = await b.Build().ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        images.Add(new ImageRecord(reader.GetString(0), reader.GetString(1),
                            Convert.ToInt32(reader.GetValue(2), CultureInfo.InvariantCulture), Convert.ToInt32(reader.GetValue(3), CultureInfo.InvariantCulture), reader.GetLong(4)));
                    }
                }

                return images;
            },
            cancellationToken);

    /// <summary>Opens a raw connection and transaction for tests that must hold a write open (e.g. delayed commits).</summary>
    internal async Task<(PipelineDbContext Context, DbConnection Connection, DbTransaction Transaction)> BeginRawAsync(CancellationToken ct)
    {
        var context = _factory.CreateDbContext();
        await context.Database.OpenConnectionAsync(ct);
        var connection = context.Database.GetDbConnection();
        var transaction = await connection.BeginTransactionAsync(ct);
        return (context, connection, transaction);
    }

    private async Task<T> ExecuteAsync<T>(bool transactional, Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        await using var context = _factory.CreateDbContext();
        var strategy = context.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(
            async ct =>
            {
                await context.Database.OpenConnectionAsync(ct);
                try
                {
                    var connection = context.Database.GetDbConnection();
                    if (!transactional)
                    {
                        return await operation(connection, null, ct);
                    }

                    await using var transaction = await connection.BeginTransactionAsync(ct);
                    var result = await operation(connection, transaction, ct);
                    await transaction.CommitAsync(ct);
                    return result;
                }
                finally
                {
                    await context.Database.CloseConnectionAsync();
                }
            },
            cancellationToken);
    }

    private async Task<RunInfo?> FindRunAsync(DbConnection connection, DbTransaction? transaction, string? name, Guid? id, CancellationToken ct)
    {
        var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
        var tasks = IsPostgres ? "tasks::text" : "tasks";
        b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT id, name, source, model, {tasks}, created_at, last_listed_key, listing_completed, listed_count, enqueued_count FROM runs WHERE ");
        b.Sql.Append(name is not null ? $"name = {b.Text(name)}" : $"id = {b.Guid(id)}");
        await using var command = b.Build();
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        var taskList = JsonSerializer.Deserialize<List<string>>(reader.GetString(4))
            ?? throw new InvalidOperationException($"runs.tasks of run '{reader.GetString(1)}' is not a JSON array of task keys.");
        return new RunInfo(reader.GetNullableGuid(0)!.Value, reader.GetString(1), reader.GetString(2), reader.GetString(3), taskList,
            reader.GetUtcDateTime(5), reader.GetNullableString(6), reader.GetBool(7), reader.GetLong(8), reader.GetLong(9));
    }

    /// <summary>SQLite: the feed position every update of this transaction starts above (read once, under the write lock).</summary>
    private async Task<long> ChangeBaseAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct) =>
        IsPostgres ? 0 : await MaxChangeSeqAsync(connection, transaction, ct);

    /// <summary>The SET fragment that moves an updated row to the end of the change feed.</summary>
    private string ChangeBump(SqlCommandBuilder b, long sqliteBase) =>
        IsPostgres
            ? "change_seq = nextval('results_change_seq'), txid = pg_current_xact_id()"
            // SQLite: base + id is unique per row (one base per transaction) and above every position that existed
            // when the write lock was taken, so it is commit-ordered.
            : $"change_seq = {b.Long(sqliteBase)} + results.id";

    private static async Task<long> MaxChangeSeqAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct)
    {
        await using var max = connection.CreateCommand();
        max.Transaction = transaction;
        max.CommandText = "SELECT COALESCE(MAX(change_seq), 0) FROM results";
        return Convert.ToInt64(await max.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }

    /// <summary>Superseding changes feed rows too; an empty NOTIFY payload tells listeners "read the feed".</summary>
    private void AppendWakeUp(SqlCommandBuilder b)
    {
        if (IsPostgres)
        {
            // A second statement in the same command: ExecuteNonQuery still reports the UPDATE's row count.
            b.Sql.Append("; SELECT pg_notify('").Append(NotifyChannel).Append("', '')");
        }
    }

    /// <summary>Rows per multi-row statement for the provider in use.</summary>
    private int RowsPerStatement => IsPostgres ? MaxRowsPerStatement : SqliteRowsPerStatement;

    /// <summary>SQLite: runs the statement(s) <paramref name="append"/> writes once per row on one reused command.</summary>
    private async Task RunPerRowAsync<T>(
        DbConnection connection, DbTransaction? transaction, IEnumerable<T> rows, Action<SqlCommandBuilder, T[]> append, CancellationToken ct)
    {
        await using var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
        var row = new T[1];
        foreach (var value in rows)
        {
            b.Restart();
            row[0] = value;
            append(b, row);
            await b.Build().ExecuteNonQueryAsync(ct);
        }
    }

    private static void AppendRows<T>(SqlCommandBuilder b, IEnumerable<T> rows, Action<T, StringBuilder> appendRow)
    {
        var first = true;
        foreach (var row in rows)
        {
            if (!first)
            {
                b.Sql.Append(", ");
            }

            first = false;
            appendRow(row, b.Sql);
        }
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

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, EventName = "Migrated", Level = LogLevel.Information, Message = "Result store ({Provider}) migrated; {Count} migration(s) applied")]
        public static partial void Migrated(ILogger logger, DatabaseProvider provider, int count);

        [LoggerMessage(EventId = 3002, EventName = "BatchWritten", Level = LogLevel.Debug, Message = "Batch written: {Results} result(s), {Failures} failure(s), {Images} image(s)")]
        public static partial void BatchWritten(ILogger logger, int results, int failures, int images);

        [LoggerMessage(EventId = 3004, EventName = "RolesGranted", Level = LogLevel.Information, Message = "Privileges granted: worker role {Worker}, producer role {Producer}, reader role {Reader}")]
        public static partial void RolesGranted(ILogger logger, string worker, string producer, string reader);

        [LoggerMessage(EventId = 3003, EventName = "SweptMissing", Level = LogLevel.Information, Message = "Run {Run}: {Count} result(s) superseded because their objects are gone")]
        public static partial void SweptMissing(ILogger logger, string run, int count);
    }
}

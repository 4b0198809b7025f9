using System.Globalization;
using System.Text.Json;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The producer's side of the store: runs, their listed items and partition checkpoints, the skip-existing lookup,
/// superseding by listing, and the end-of-pass sweep. Members are documented on <see cref="ResultStore"/>.
/// </summary>
internal sealed class RunBookkeeping(StoreContext store)
{
    public Task<RunInfo> CreateRunAsync(RunDefinition definition, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(definition.Name);
        if (definition.Tasks.Count == 0)
        {
            throw new ArgumentException($"Run '{definition.Name}' has no tasks; at least one task key is required.", nameof(definition));
        }

        var id = Guid.NewGuid();
        var created = store.Now;
        return store.ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                if (await store.FindRunAsync(connection, transaction, definition.Name, null, ct).ConfigureAwait(false) is { } existing)
                {
                    throw new InvalidOperationException(
                        $"A run named '{definition.Name}' already exists (id {existing.Id}); resume it with GetRunAsync instead of creating it again.");
                }

                using var b = store.Command(connection, transaction);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"INSERT INTO runs (id, name, source, model, tasks, created_at, last_listed_key, listing_completed, listed_count, enqueued_count) VALUES ({b.Guid(id)}, {b.Text(definition.Name)}, {b.Text(definition.Source)}, {b.Text(definition.Model)}, {b.Json(JsonSerializer.Serialize(definition.Tasks))}, {b.Time(created)}, NULL, FALSE, 0, 0)");
                await b.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                return new RunInfo(id, definition.Name, definition.Source, definition.Model, definition.Tasks, created, null, false, 0, 0);
            },
            cancellationToken);
    }

    public Task<RunInfo?> GetRunAsync(string name, CancellationToken cancellationToken) =>
        store.ExecuteAsync(false, (c, t, ct) => store.FindRunAsync(c, t, name, null, ct), cancellationToken);

    public Task<RunInfo?> GetRunAsync(Guid id, CancellationToken cancellationToken) =>
        store.ExecuteAsync(false, (c, t, ct) => store.FindRunAsync(c, t, null, id, ct), cancellationToken);

    public Task<int> RecordListedPageAsync(Guid runId, IReadOnlyList<RunItemRecord> items, string? lastListedKey, CancellationToken cancellationToken) =>
        RecordListedCoreAsync(runId, null, items, lastListedKey, cancellationToken);

    public Task<int> RecordListedPartitionPageAsync(Guid runId, string partition, IReadOnlyList<RunItemRecord> items, string lastKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(lastKey);
        return RecordListedCoreAsync(runId, (partition, lastKey), items, null, cancellationToken);
    }

    public Task CompleteListingPartitionAsync(Guid runId, string partition, CancellationToken cancellationToken) =>
        store.ExecuteNonQueryAsync(
            false,
            b => b.Sql.Append(CultureInfo.InvariantCulture,
                $"INSERT INTO run_partitions (run_id, partition, last_key, completed) VALUES ({b.Guid(runId)}, {b.Text(partition)}, NULL, TRUE) ON CONFLICT (run_id, partition) DO UPDATE SET completed = TRUE"),
            cancellationToken);

    public Task<IReadOnlyDictionary<string, ListingPartition>> GetListingPartitionsAsync(Guid runId, CancellationToken cancellationToken) =>
        store.ExecuteAsync<IReadOnlyDictionary<string, ListingPartition>>(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                b.Sql.Append(CultureInfo.InvariantCulture, $"SELECT partition, last_key, completed FROM run_partitions WHERE run_id = {b.Guid(runId)}");
                var rows = await StoreContext.ReadAsync(b.Build(), r => (r.GetString(0), new ListingPartition(r.GetNullableString(1), r.GetBool(2))), ct)
                    .ConfigureAwait(false);
                var partitions = new Dictionary<string, ListingPartition>(StringComparer.Ordinal);
                foreach (var (name, partition) in rows)
                {
                    partitions[name] = partition;
                }

                return partitions;
            },
            cancellationToken);

    private Task<int> RecordListedCoreAsync(Guid runId, (string Name, string LastKey)? partition, IReadOnlyList<RunItemRecord> items, string? lastListedKey,
        CancellationToken cancellationToken) =>
        store.ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                var distinct = items.DistinctBy(i => i.Uri, StringComparer.Ordinal).ToList();
                // A resumed pass re-lists keys it already recorded: same ETag, nothing to do. A new pass over a
                // changed object updates its ETag so status and export follow the version this pass enqueued.
                const string upsert = " ON CONFLICT (run_id, uri) DO UPDATE SET etag = excluded.etag, size = excluded.size, enqueued = excluded.enqueued WHERE run_items.etag <> excluded.etag RETURNING enqueued";
                var (inserted, enqueued) = await store.Dialect.UpsertRunItemsAsync(store, connection, transaction, runId, distinct, upsert, ct).ConfigureAwait(false);

                using (var u = store.Command(connection, transaction))
                {
                    u.Sql.Append(CultureInfo.InvariantCulture,
                        $"UPDATE runs SET last_listed_key = COALESCE({u.Text(lastListedKey)}, last_listed_key), listed_count = listed_count + {u.Long(inserted)}, enqueued_count = enqueued_count + {u.Long(enqueued)} WHERE id = {u.Guid(runId)}");
                    if (await u.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                    {
                        throw new InvalidOperationException($"Run {runId} does not exist; create it with CreateRunAsync first.");
                    }
                }

                if (partition is { } p)
                {
                    using var k = store.Command(connection, transaction);
                    k.Sql.Append(CultureInfo.InvariantCulture,
                        $"INSERT INTO run_partitions (run_id, partition, last_key, completed) VALUES ({k.Guid(runId)}, {k.Text(p.Name)}, {k.Text(p.LastKey)}, FALSE) ON CONFLICT (run_id, partition) DO UPDATE SET last_key = excluded.last_key");
                    await k.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                return inserted;
            },
            cancellationToken);

    public Task RestartListingAsync(Guid runId, CancellationToken cancellationToken) =>
        UpdateRunAsync(runId, "last_listed_key = NULL, listing_completed = FALSE", cancellationToken);

    public async Task CompleteListingAsync(Guid runId, CancellationToken cancellationToken)
    {
        await UpdateRunAsync(runId, "listing_completed = TRUE", cancellationToken).ConfigureAwait(false);
        await store.ExecuteNonQueryAsync(
            false,
            b => b.Sql.Append(CultureInfo.InvariantCulture, $"DELETE FROM run_partitions WHERE run_id = {b.Guid(runId)}"),
            cancellationToken).ConfigureAwait(false);
    }

    private Task UpdateRunAsync(Guid runId, string assignments, CancellationToken cancellationToken) =>
        store.ExecuteNonQueryAsync(
            false,
            b => b.Sql.Append(CultureInfo.InvariantCulture, $"UPDATE runs SET {assignments} WHERE id = {b.Guid(runId)}"),
            cancellationToken);

    public Task<IReadOnlySet<ExistingResult>> FindExistingResultsAsync(
        IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks, CancellationToken cancellationToken) =>
        store.ExecuteAsync<IReadOnlySet<ExistingResult>>(
            false,
            async (connection, transaction, ct) =>
            {
                var found = new HashSet<ExistingResult>();
                if (page.Count == 0 || tasks.Count == 0)
                {
                    return found;
                }

                await store.Dialect.FindExistingAsync(store, connection, transaction, page, model, tasks, found, ct).ConfigureAwait(false);
                return found;
            },
            cancellationToken);

    public Task<IReadOnlySet<(int Page, string Task)>> FindDonePagesAsync(
        ObjectVersion document, string model, IReadOnlyList<string> tasks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(tasks);
        return store.ExecuteAsync<IReadOnlySet<(int Page, string Task)>>(
            false,
            async (connection, transaction, ct) =>
            {
                var done = new HashSet<(int Page, string Task)>();
                if (tasks.Count == 0)
                {
                    return done;
                }

                // One statement for the whole document, whatever its page count: the unique key's (uri, etag) prefix
                // serves it.
                using var b = store.Command(connection, transaction);
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"SELECT page, task FROM results WHERE uri = {b.Text(document.Uri)} AND etag = {b.Text(document.ETag)} AND page > 0 AND model = {b.Text(model)} AND superseded = FALSE AND task IN (");
                b.Sql.AppendJoin(", ", tasks.Select(t => b.Text(t)));
                b.Sql.Append(')');
                done.UnionWith(await StoreContext.ReadAsync(
                    b.Build(), r => (Convert.ToInt32(r.GetValue(0), CultureInfo.InvariantCulture), r.GetString(1)), ct).ConfigureAwait(false));
                return done;
            },
            cancellationToken);
    }

    public Task<int> MarkSupersededByNewEtagAsync(IReadOnlyList<ObjectVersion> listed, CancellationToken cancellationToken) =>
        store.ExecuteAsync(
            true,
            (connection, transaction, ct) => store.Dialect.SupersedeByNewEtagAsync(store, connection, transaction, listed, ct),
            cancellationToken);

    public async Task<(int Superseded, IReadOnlySet<ExistingResult> Existing)> SupersedeAndFindExistingAsync(
        IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(tasks);
        if (!store.Dialect.CombinesPageLookups || page.Count == 0 || tasks.Count == 0)
        {
            var superseded = await MarkSupersededByNewEtagAsync(page, cancellationToken).ConfigureAwait(false);
            return (superseded, await FindExistingResultsAsync(page, model, tasks, cancellationToken).ConfigureAwait(false));
        }

        return await store.ExecuteAsync(
            false,
            (connection, _, ct) => store.Dialect.SupersedeAndFindExistingAsync(store, connection, page, model, tasks, ct),
            cancellationToken).ConfigureAwait(false);
    }

    public Task<int> MarkSupersededMissingAsync(Guid runId, CancellationToken cancellationToken) =>
        store.ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                var run = await store.FindRunAsync(connection, transaction, null, runId, ct).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"Run {runId} does not exist.");
                if (!run.ListingCompleted)
                {
                    throw new InvalidOperationException(
                        $"Run '{run.Name}' has not completed its listing; superseding missing objects after a partial listing would hide live results. Call CompleteListingAsync when the listing reaches its end.");
                }

                await store.Dialect.PrepareSweepAsync(connection, transaction, ct).ConfigureAwait(false);
                using var b = store.Command(connection, transaction);
                var bump = store.Dialect.ChangeBump(b, await store.Dialect.ChangeBaseAsync(connection, transaction, ct).ConfigureAwait(false));
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"UPDATE results SET superseded = TRUE, updated_at = {b.Time(store.Now)}, {bump} WHERE superseded = FALSE AND model = {b.Text(run.Model)} AND substr(uri, 1, {b.Int(run.Source.Length)}) = {b.Text(run.Source)} AND NOT EXISTS (SELECT 1 FROM run_items ri WHERE ri.run_id = {b.Guid(runId)} AND ri.uri = results.uri)");
                store.Dialect.AppendWakeUp(b);
                var swept = await b.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                StoreLog.SweptMissing(store.Logger, run.Name, swept);
                return swept;
            },
            cancellationToken);
}

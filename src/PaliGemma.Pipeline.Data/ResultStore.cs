using System.Data.Common;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The result store used by the producer, the workers and the CLI: one entry that forwards each member to the part
/// of the store that owns it (schema administration, run bookkeeping, batch writes, the change feed, run reports and
/// browse queries; see Store/). Every method opens a short-lived context and runs inside the provider's execution
/// strategy (Postgres retries transient faults; a retried batch is safe because every write is an idempotent upsert).
/// Bulk statements use hand-written SQL so that a worker batch is one transaction on both providers: on Postgres
/// multi-row statements in few round trips, on SQLite the same statements one row at a time on reused prepared
/// commands (no round trips to save in-process, and Microsoft.Data.Sqlite's by-name binding makes many-parameter
/// statements quadratically slow).
/// </summary>
public sealed class ResultStore
{
    /// <summary>Postgres NOTIFY channel carrying comma-separated result ids (empty when too many for one payload).</summary>
    public const string NotifyChannel = "pgpipe_results";

    private readonly StoreContext _store;
    private readonly SchemaAdmin _schema;
    private readonly RunBookkeeping _runs;
    private readonly BatchWriter _writer;
    private readonly ChangeFeedReader _feed;
    private readonly RunReports _reports;
    private readonly BrowseQueries _browse;

    /// <summary>Creates the store.</summary>
    public ResultStore(PipelineDbContextFactory factory, TimeProvider time, ILogger<ResultStore> logger)
    {
        _store = new StoreContext(factory, time, logger);
        _schema = new SchemaAdmin(_store);
        _runs = new RunBookkeeping(_store);
        _writer = new BatchWriter(_store);
        _feed = new ChangeFeedReader(_store);
        _reports = new RunReports(_store);
        _browse = new BrowseQueries(_store);
    }

    /// <summary>The provider in use.</summary>
    public DatabaseProvider Provider => _store.Factory.Provider;

    /// <summary>
    /// Applies pending EF Core migrations of the configured provider. Never called implicitly: `pgpipe migrate`
    /// and the embedded mode's first use call it.
    /// </summary>
    public Task MigrateAsync(CancellationToken cancellationToken) =>
        _schema.MigrateAsync(cancellationToken);

    /// <summary>
    /// Postgres: gives existing roles the worker, producer and read-only privileges of <see cref="DatabaseRoles"/>, in one
    /// transaction. Run it as the migration role (the tables' owner) after <see cref="MigrateAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The store is SQLite, which has no roles.</exception>
    public Task GrantRolesAsync(DatabaseRoleGrants grants, CancellationToken cancellationToken) =>
        _schema.GrantRolesAsync(grants, cancellationToken);

    /// <summary>Creates a run. Throws <see cref="InvalidOperationException"/> if the name is taken (use GetRunAsync(name) to resume).</summary>
    public Task<RunInfo> CreateRunAsync(RunDefinition definition, CancellationToken cancellationToken) =>
        _runs.CreateRunAsync(definition, cancellationToken);

    /// <summary>Finds a run by name, or null.</summary>
    public Task<RunInfo?> GetRunAsync(string name, CancellationToken cancellationToken) =>
        _runs.GetRunAsync(name, cancellationToken);

    /// <summary>Finds a run by id, or null.</summary>
    public Task<RunInfo?> GetRunAsync(Guid id, CancellationToken cancellationToken) =>
        _runs.GetRunAsync(id, cancellationToken);

    /// <summary>
    /// Records one listed page of a run (one transaction): inserts run_items (existing (run, uri) rows are kept,
    /// so a resumed producer never duplicates), advances the resume key and the counts.
    /// Publish the page's jobs before calling this: a crash in between re-publishes, which upserts harmlessly.
    /// </summary>
    /// <returns>How many items were new to the run or came back with a new ETag.</returns>
    public Task<int> RecordListedPageAsync(Guid runId, IReadOnlyList<RunItemRecord> items, string? lastListedKey, CancellationToken cancellationToken) =>
        _runs.RecordListedPageAsync(runId, items, lastListedKey, cancellationToken);

    /// <summary>
    /// <see cref="RecordListedPageAsync"/> for one partition of a parallel listing: the page's run items, the run's counts
    /// and the partition's resume key, in one transaction. The run's own resume key is left alone (it would be wrong for
    /// every other partition).
    /// </summary>
    /// <returns>How many items were new to the run or came back with a new ETag.</returns>
    public Task<int> RecordListedPartitionPageAsync(Guid runId, string partition, IReadOnlyList<RunItemRecord> items, string lastKey, CancellationToken cancellationToken) =>
        _runs.RecordListedPartitionPageAsync(runId, partition, items, lastKey, cancellationToken);

    /// <summary>Marks one partition of a parallel listing as listed to its end.</summary>
    public Task CompleteListingPartitionAsync(Guid runId, string partition, CancellationToken cancellationToken) =>
        _runs.CompleteListingPartitionAsync(runId, partition, cancellationToken);

    /// <summary>Resume points of a parallel listing in progress: partition → (last recorded key, listed to its end).</summary>
    public Task<IReadOnlyDictionary<string, ListingPartition>> GetListingPartitionsAsync(Guid runId, CancellationToken cancellationToken) =>
        _runs.GetListingPartitionsAsync(runId, cancellationToken);

    /// <summary>
    /// Starts a new listing pass of a completed run (the nightly re-run of the same command): clears the resume key
    /// and the completed flag. Items and results stay; the new pass skips what already has results.
    /// </summary>
    public Task RestartListingAsync(Guid runId, CancellationToken cancellationToken) =>
        _runs.RestartListingAsync(runId, cancellationToken);

    /// <summary>
    /// Marks the run's listing complete and drops its partition resume points (the next pass starts over); required
    /// before <see cref="MarkSupersededMissingAsync"/>.
    /// </summary>
    public Task CompleteListingAsync(Guid runId, CancellationToken cancellationToken) =>
        _runs.CompleteListingAsync(runId, cancellationToken);

    /// <summary>
    /// Skip-existing lookup for the producer (and a worker's batch), one round trip per page: which (uri, etag, page, task)
    /// of the given versions already have a successful result for <paramref name="model"/>, matched on
    /// <see cref="ObjectVersion.Page"/>. For a whole object (page 0) that a worker recorded as a document with a page
    /// count, a task is also returned (at page 0) when every one of its pages has a current result for it; otherwise the
    /// object is enqueued again and the expanding worker enqueues only its missing pages. Failed combinations, a
    /// document's own failure included, are not returned, so the next run retries them. Superseded rows of a whole object
    /// count as existing, so call <see cref="MarkSupersededByNewEtagAsync"/> for the page first: it revives results of an
    /// object that came back with the same ETag.
    /// </summary>
    public Task<IReadOnlySet<ExistingResult>> FindExistingResultsAsync(
        IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks, CancellationToken cancellationToken) =>
        _runs.FindExistingResultsAsync(page, model, tasks, cancellationToken);

    /// <summary>
    /// The (page, task) pairs of one document version (<paramref name="document"/>'s page is ignored) that already have a
    /// successful, non-superseded result for <paramref name="model"/>, pages 1-based; one query however many pages. The
    /// expanding worker enqueues only the other pages.
    /// </summary>
    public Task<IReadOnlySet<(int Page, string Task)>> FindDonePagesAsync(
        ObjectVersion document, string model, IReadOnlyList<string> prompts, CancellationToken cancellationToken) =>
        _runs.FindDonePagesAsync(document, model, prompts, cancellationToken);

    /// <summary>
    /// Records documents (upsert by (uri, etag); a known page count is never replaced by an unknown one), in one
    /// transaction. The expanding worker calls it before it publishes the page jobs, so run status counts the document's
    /// pages from then on.
    /// </summary>
    public Task RecordDocumentsAsync(IReadOnlyList<DocumentRecord> documents, CancellationToken cancellationToken) =>
        _writer.RecordDocumentsAsync(documents, cancellationToken);

    /// <summary>
    /// Persists one worker batch in one transaction: documents, image facts, results (upsert on (uri, etag, page, model,
    /// task); an update re-enters the change feed), deletion of failures the results replace, and failures (attempts
    /// counted; skipped where a result exists). On Postgres a NOTIFY with the written ids is sent on commit.
    /// </summary>
    public Task WriteBatchAsync(ResultBatch batch, CancellationToken cancellationToken) =>
        _writer.WriteBatchAsync(batch, cancellationToken);

    /// <summary>
    /// Superseding case (a): for each listed object version, results of the same URI with another ETag become
    /// superseded (every page of a document), and results with this ETag are revived (an object that came back). Call once per listed page.
    /// </summary>
    /// <returns>Rows whose superseded flag changed.</returns>
    public Task<int> MarkSupersededByNewEtagAsync(IReadOnlyList<ObjectVersion> listed, CancellationToken cancellationToken) =>
        _runs.MarkSupersededByNewEtagAsync(listed, cancellationToken);

    /// <summary>
    /// The producer's per-page lookup: <see cref="MarkSupersededByNewEtagAsync"/> and then
    /// <see cref="FindExistingResultsAsync"/> for the same page. On Postgres both statements go in one round trip
    /// (they are independent: superseded rows count as existing); on SQLite, in-process, they run one after the other.
    /// </summary>
    /// <returns>Rows whose superseded flag changed, and the page's combinations that already have results.</returns>
    public Task<(int Superseded, IReadOnlySet<ExistingResult> Existing)> SupersedeAndFindExistingAsync(
        IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks, CancellationToken cancellationToken) =>
        _runs.SupersedeAndFindExistingAsync(page, model, tasks, cancellationToken);

    /// <summary>
    /// Superseding case (b), mark-and-sweep: run_items of a run whose listing completed are the "mark"; this
    /// sweeps results of the run's model under the run's source whose URI the listing did not see. One
    /// set-based UPDATE, so nothing is loaded into memory however many keys the source holds.
    /// </summary>
    /// <returns>Rows newly superseded.</returns>
    public Task<int> MarkSupersededMissingAsync(Guid runId, CancellationToken cancellationToken) =>
        _runs.MarkSupersededMissingAsync(runId, cancellationToken);

    /// <summary>Current (latest non-superseded) results of one object, from the current_results view, by page, model and task.</summary>
    public Task<IReadOnlyList<StoredResult>> GetCurrentResultsAsync(string uri, CancellationToken cancellationToken) =>
        _browse.GetCurrentResultsAsync(uri, cancellationToken);

    /// <summary>
    /// Full-text search over current results, best first. Postgres: websearch syntax, english stemming,
    /// ts_rank_cd. SQLite: FTS5 with the porter stemmer, every word required, bm25 (negated so higher is better).
    /// </summary>
    public Task<IReadOnlyList<SearchHit>> SearchAsync(string query, int limit, CancellationToken cancellationToken) =>
        _browse.SearchAsync(query, limit, cancellationToken);

    /// <summary>
    /// The latest recorded version of a document (by when a worker first recorded it) for <paramref name="model"/>: its
    /// pages in order with their current results and failures (a page with neither is pending), and the document's own
    /// failure; null when no worker recorded <paramref name="uri"/> as a document.
    /// </summary>
    public Task<DocumentView?> GetDocumentAsync(string uri, string model, CancellationToken cancellationToken) =>
        _browse.GetDocumentAsync(uri, model, cancellationToken);

    /// <summary>
    /// The version of a document <see cref="GetDocumentAsync"/> shows, with the source of the run that recorded it (to
    /// read the file back from); null when no worker recorded <paramref name="uri"/> as a document.
    /// </summary>
    public Task<DocumentSource?> GetDocumentSourceAsync(string uri, CancellationToken cancellationToken) =>
        new DocumentSources(_store).GetAsync(uri, cancellationToken);

    /// <summary>
    /// Run progress: listed/enqueued objects, (object or page, task) combinations done (including results reused from
    /// earlier runs), failed, pending; throughput = results this run wrote in the last <paramref name="window"/>.
    /// </summary>
    public Task<RunStatus> GetRunStatusAsync(Guid runId, TimeSpan window, CancellationToken cancellationToken) =>
        _reports.GetRunStatusAsync(runId, window, cancellationToken);

    /// <summary>
    /// Streams one row per (listed object, task) of a run, or per (page, task) of a listed object a worker recorded as a
    /// document with a page count, ordered by URI, page, then task, joining results (from any run: reused results
    /// count), failures and image sizes by (uri, etag, page, model, task). Streaming keeps memory
    /// flat for millions of objects; it is not retried, so restart the export on a transient fault.
    /// </summary>
    public IAsyncEnumerable<ExportRow> ExportRunAsync(Guid runId, CancellationToken cancellationToken) =>
        _reports.ExportRunAsync(runId, cancellationToken);

    /// <summary>Width/height per object version (for COCO export of arbitrary sets); unknown versions are absent.</summary>
    public Task<IReadOnlyList<ImageRecord>> GetImagesAsync(IReadOnlyList<ObjectVersion> objects, CancellationToken cancellationToken) =>
        _reports.GetImagesAsync(objects, cancellationToken);

    /// <summary>
    /// Reads the change feed after <paramref name="cursor"/>. Never skips a committed row under concurrent
    /// writers: on Postgres only rows written by transactions older than the snapshot's xmin (all finished, so
    /// no in-flight transaction can later commit a row that sorts before them) are returned, in (txid, seq)
    /// order. On SQLite the single writer makes the sequence commit-ordered.
    /// Latency, not loss: xmin is server-wide, so any open write transaction on the Postgres server (in any
    /// database) holds newer rows back until it ends; keep worker batches short and poll with the returned cursor.
    /// </summary>
    public Task<ChangePage> ReadChangesAsync(ChangeCursor cursor, int limit, CancellationToken cancellationToken) =>
        _feed.ReadChangesAsync(cursor, limit, cancellationToken);

    /// <summary>
    /// Follows the feed after <paramref name="cursor"/>: yields each non-empty page of at most
    /// <paramref name="pageSize"/> rows as soon as it is readable, and never ends on its own (it throws
    /// <see cref="OperationCanceledException"/> when cancelled). Once caught up it waits: on Postgres for a NOTIFY
    /// on <see cref="NotifyChannel"/> (LISTEN starts before the first read, so no commit falls between the two) or
    /// <paramref name="interval"/>, whichever comes first; on SQLite for <paramref name="interval"/>. The timer is
    /// what makes rows held back behind an older open transaction appear once it ends (that transaction may write no
    /// result, so nothing notifies), and it bounds the cost of a lost notification or listen connection to one interval.
    /// </summary>
    public IAsyncEnumerable<ChangePage> FollowChangesAsync(
        ChangeCursor cursor, int pageSize, TimeSpan interval, CancellationToken cancellationToken) =>
        _feed.FollowChangesAsync(cursor, pageSize, interval, cancellationToken);

    /// <summary>
    /// Postgres only: yields the ids of each NOTIFY on <see cref="NotifyChannel"/> (an empty list means "many
    /// rows, read the feed"). A wake-up for <see cref="ReadChangesAsync"/> readers, not a delivery guarantee:
    /// notifications sent while not listening are lost, so readers always page from their cursor.
    /// Ends by throwing <see cref="OperationCanceledException"/> when cancelled.
    /// </summary>
    public IAsyncEnumerable<IReadOnlyList<long>> ListenAsync(CancellationToken cancellationToken) =>
        _feed.ListenAsync(cancellationToken);

    /// <summary>Runs, newest first (then by name), at most <paramref name="limit"/>.</summary>
    public Task<IReadOnlyList<RunInfo>> ListRunsAsync(int limit, CancellationToken cancellationToken) =>
        _browse.ListRunsAsync(limit, cancellationToken);

    /// <summary>
    /// The failures of a run's listed objects (for the run's model and tasks) counted per reason code, largest group
    /// first, with one example message each.
    /// </summary>
    public Task<IReadOnlyList<FailureGroup>> GetFailureGroupsAsync(Guid runId, CancellationToken cancellationToken) =>
        _browse.GetFailureGroupsAsync(runId, cancellationToken);

    /// <summary>A page of a run's failures ordered by reason code, object URI and task.</summary>
    public Task<IReadOnlyList<FailureEntry>> GetFailuresAsync(Guid runId, int offset, int limit, CancellationToken cancellationToken) =>
        _browse.GetFailuresAsync(runId, offset, limit, cancellationToken);

    /// <summary>
    /// One page of current results: ranked full-text hits when the query has words (Postgres: websearch syntax,
    /// english stemming, ts_rank_cd, highlighted snippet; SQLite: FTS5 porter stemming, every word required, negated
    /// bm25), else every current result newest first. Snippets mark matches with [ and ].
    /// </summary>
    public Task<ResultPage> QueryResultsAsync(ResultQuery query, CancellationToken cancellationToken) =>
        _browse.QueryResultsAsync(query, cancellationToken);

    /// <summary>One result row by id (current or superseded), or null.</summary>
    public Task<ResultDetail?> GetResultAsync(long id, CancellationToken cancellationToken) =>
        _browse.GetResultAsync(id, cancellationToken);
    /// <summary>The body of <see cref="WriteBatchAsync"/> on a caller's transaction (tests hold it open to delay the commit).</summary>
    internal Task WriteBatchCoreAsync(DbConnection connection, DbTransaction transaction, ResultBatch batch, CancellationToken ct) =>
        _writer.WriteBatchCoreAsync(connection, transaction, batch, ct);

    /// <summary>Opens a raw connection and transaction for tests that must hold a write open (e.g. delayed commits).</summary>
    internal Task<(PipelineDbContext Context, DbConnection Connection, DbTransaction Transaction)> BeginRawAsync(CancellationToken ct) =>
        _store.BeginRawAsync(ct);
}

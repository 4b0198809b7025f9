using System.Data.Common;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Everything the store says differently on Postgres and SQLite, chosen once from the provider
/// (<see cref="For"/>): parameter forms, SQL fragments, and the few statements whose shape differs (Postgres binds
/// arrays and sends NOTIFY; SQLite runs one-row statements on reused prepared commands). The store classes hold the
/// shared SQL and never test the provider themselves.
/// </summary>
internal abstract class SqlDialect
{
    /// <summary>Postgres caps parameters per statement at 65535 and SQLite at 32766; rows x 14 parameters stays below.</summary>
    public const int MaxRowsPerStatement = 1000;

    /// <summary>The dialect of <paramref name="provider"/>.</summary>
    public static SqlDialect For(DatabaseProvider provider) =>
        provider == DatabaseProvider.Postgres ? PostgresDialect.Instance : SqliteDialect.Instance;

    /// <summary>Rows per multi-row statement.</summary>
    public abstract int RowsPerStatement { get; }

    /// <summary>Whether the database has roles to grant (<see cref="ResultStore.GrantRolesAsync"/>).</summary>
    public abstract bool HasRoles { get; }

    /// <summary>Whether the database has LISTEN/NOTIFY (<see cref="ResultStore.ListenAsync"/>).</summary>
    public abstract bool HasNotify { get; }

    /// <summary>Whether the producer's supersede and skip-existing lookups of a page can share one round trip.</summary>
    public abstract bool CombinesPageLookups { get; }

    /// <summary>A JSON document parameter.</summary>
    public abstract string Json(SqlCommandBuilder b, string? value);

    /// <summary>A Guid parameter, in the form the provider's EF Core mapping stores.</summary>
    public abstract string Guid(SqlCommandBuilder b, Guid? value);

    /// <summary>A UTC timestamp parameter, in the form the provider's EF Core mapping stores.</summary>
    public abstract string Time(SqlCommandBuilder b, DateTime utc);

    /// <summary>A JSON column read back as text.</summary>
    public abstract string JsonText(string column);

    /// <summary>A boolean expression: the result row <c>r</c> has a non-empty array of boxes.</summary>
    public abstract string HasBoxes { get; }

    /// <summary>Runs once after the migrations.</summary>
    public abstract Task AfterMigrateAsync(PipelineDbContext context, CancellationToken ct);

    /// <summary>Upserts a page's distinct run items with <paramref name="upsert"/> as the conflict clause.</summary>
    /// <returns>Rows inserted or changed, and how many of them are enqueued.</returns>
    public abstract Task<(int Inserted, int Enqueued)> UpsertRunItemsAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, Guid runId, IReadOnlyList<RunItemRecord> distinct, string upsert,
        CancellationToken ct);

    /// <summary>
    /// Adds to <paramref name="found"/> the (uri, etag, page, task) of <paramref name="page"/> that have results for
    /// <paramref name="model"/>; a whole object (page 0) that is a document counts a task as done when every page has it.
    /// </summary>
    public abstract Task FindExistingAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, IReadOnlyList<ObjectVersion> page, string model,
        IReadOnlyCollection<string> tasks, HashSet<ExistingResult> found, CancellationToken ct);

    /// <summary>Superseding case (a) for a listed page; returns the rows whose superseded flag changed.</summary>
    public abstract Task<int> SupersedeByNewEtagAsync(
        StoreContext store, DbConnection connection, DbTransaction? transaction, IReadOnlyList<ObjectVersion> listed, CancellationToken ct);

    /// <summary>Both page lookups in one round trip; only where <see cref="CombinesPageLookups"/>.</summary>
    public virtual Task<(int, IReadOnlySet<ExistingResult>)> SupersedeAndFindExistingAsync(
        StoreContext store, DbConnection connection, IReadOnlyList<ObjectVersion> page, string model, IReadOnlyCollection<string> tasks,
        CancellationToken ct) =>
        throw new NotSupportedException("This database runs the page lookups one after the other.");

    /// <summary>Session settings the end-of-pass sweep needs, inside its transaction.</summary>
    public abstract Task PrepareSweepAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct);

    /// <summary>The feed position every update of this transaction starts above (read once, under the write lock).</summary>
    public abstract Task<long> ChangeBaseAsync(DbConnection connection, DbTransaction? transaction, CancellationToken ct);

    /// <summary>The SET fragment that moves an updated row to the end of the change feed.</summary>
    public abstract string ChangeBump(SqlCommandBuilder b, long changeBase);

    /// <summary>Superseding changes feed rows too; appends what wakes feed listeners, if the database has any.</summary>
    public abstract void AppendWakeUp(SqlCommandBuilder b);

    /// <summary>The first change_seq a batch of <paramref name="results"/> result rows assigns itself (0 when the database assigns them).</summary>
    public abstract Task<long> FirstChangeSeqAsync(DbConnection connection, DbTransaction? transaction, int results, CancellationToken ct);

    /// <summary>What comes before the results' INSERT of a batch write.</summary>
    public abstract string ResultsInsertPrefix { get; }

    /// <summary>The change_seq value of the next inserted result row.</summary>
    public abstract string NextChangeSeq(SqlCommandBuilder b, ref long next);

    /// <summary>
    /// Ends the results' upsert of a batch write: the feed position of an updated row, then the deletion of the failures
    /// these results replace (their (uri, etag, page, model, task) <paramref name="keys"/>), and on Postgres the NOTIFY.
    /// </summary>
    public abstract void AppendResultsTail(SqlCommandBuilder b, IEnumerable<string> keys);

    /// <summary>Starts a batch write's statements on <paramref name="transaction"/>.</summary>
    public abstract StatementRunner BeginStatements(DbConnection connection, DbTransaction transaction);

    /// <summary>The change feed's page query after <paramref name="cursor"/> (<paramref name="columns"/> has one {0} for the boxes).</summary>
    public abstract void AppendFeedQuery(SqlCommandBuilder b, string columns, ChangeCursor cursor, int limit);

    /// <summary>How a change-feed follower waits once caught up.</summary>
    public abstract ChangeWaiter CreateWaiter(string connectionString, TimeProvider time, ILogger logger);

    /// <summary>
    /// The SELECT and FROM of a ranked full-text search for <paramref name="text"/> over current results <c>r</c>
    /// (<paramref name="columns"/> has {0} for the snippet and {1} for the rank), followed by a WHERE.
    /// </summary>
    /// <returns>False when nothing can match (no SQL is appended then).</returns>
    public abstract bool AppendSearch(SqlCommandBuilder b, string columns, string text);
}

/// <summary>
/// Runs the statements of one batch write, kind by kind (images, results, failures), the way the dialect sends them.
/// Disposing it disposes its commands.
/// </summary>
internal abstract class StatementRunner : IDisposable
{
    /// <summary>Adds the statements <paramref name="append"/> writes for <paramref name="rows"/>; may execute some.</summary>
    public abstract Task AddAsync<T>(IReadOnlyList<T> rows, Action<SqlCommandBuilder, IEnumerable<T>> append, CancellationToken ct);

    /// <summary>Executes what is still pending.</summary>
    public abstract Task FlushAsync(CancellationToken ct);

    /// <inheritdoc />
    public abstract void Dispose();
}

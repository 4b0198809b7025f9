using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// What every part of the store shares: contexts and connections from the factory, the execution strategy, the
/// clock, the dialect, and the helpers that read rows. Every operation opens a short-lived context and runs inside
/// the provider's execution strategy (Postgres retries transient faults; a retried batch is safe because every
/// write is an idempotent upsert).
/// </summary>
internal sealed class StoreContext(PipelineDbContextFactory factory, TimeProvider time, ILogger logger)
{
    public PipelineDbContextFactory Factory { get; } = factory;

    public TimeProvider Time { get; } = time;

    public ILogger Logger { get; } = logger;

    public SqlDialect Dialect { get; } = SqlDialect.For(factory.Provider);

    public DateTime Now => Time.GetUtcNow().UtcDateTime;

    /// <summary>A command builder on <paramref name="connection"/>; the caller disposes it (see <see cref="SqlCommandBuilder"/>).</summary>
    public SqlCommandBuilder Command(DbConnection connection, DbTransaction? transaction) => new(connection, transaction, Dialect);

    /// <summary>
    /// Runs <paramref name="operation"/> on an open connection inside the execution strategy, in a transaction
    /// committed at its end when <paramref name="transactional"/>.
    /// </summary>
    public async Task<T> ExecuteAsync<T>(bool transactional, Func<DbConnection, DbTransaction?, CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        var context = Factory.CreateDbContext();
        await using (context.ConfigureAwait(false))
        {
            var strategy = context.Database.CreateExecutionStrategy();
            return await strategy.ExecuteAsync(
                async ct =>
                {
                    await context.Database.OpenConnectionAsync(ct).ConfigureAwait(false);
                    try
                    {
                        var connection = context.Database.GetDbConnection();
                        if (!transactional)
                        {
                            return await operation(connection, null, ct).ConfigureAwait(false);
                        }

                        var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                        await using (transaction.ConfigureAwait(false))
                        {
                            var result = await operation(connection, transaction, ct).ConfigureAwait(false);
                            await transaction.CommitAsync(ct).ConfigureAwait(false);
                            return result;
                        }
                    }
                    finally
                    {
                        await context.Database.CloseConnectionAsync().ConfigureAwait(false);
                    }
                },
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Runs one statement built by <paramref name="build"/> inside the execution strategy; returns its row count.</summary>
    public Task<int> ExecuteNonQueryAsync(bool transactional, Action<SqlCommandBuilder> build, CancellationToken cancellationToken) =>
        ExecuteAsync(
            transactional,
            async (connection, transaction, ct) =>
            {
                using var b = Command(connection, transaction);
                build(b);
                return await b.Build().ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken);

    /// <summary>Executes <paramref name="command"/> and maps every row; the reader is disposed here, the command by its owner.</summary>
    public static async Task<List<T>> ReadAsync<T>(DbCommand command, Func<DbDataReader, T> row, CancellationToken ct)
    {
        var rows = new List<T>();
        var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add(row(reader));
            }
        }

        return rows;
    }

    /// <summary>One (uri, etag, task, page) row of a skip-existing lookup.</summary>
    public static ExistingResult ReadExisting(DbDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2)) { Page = Convert.ToInt32(reader.GetValue(3), CultureInfo.InvariantCulture) };

    /// <summary>A page column as the API shows it: null for page 0 (the whole object).</summary>
    public static int? ReadPage(DbDataReader reader, int ordinal)
    {
        var page = Convert.ToInt32(reader.GetValue(ordinal), CultureInfo.InvariantCulture);
        return page == 0 ? null : page;
    }

    /// <summary>
    /// The condition that result or failure <paramref name="row"/> is at a unit of work of an object whose documents row is
    /// <paramref name="document"/> (LEFT JOINed, so possibly absent): one of its pages when it has a page count, else page 0.
    /// </summary>
    public static string AtUnit(string row, string document) =>
        $"(({document}.page_count > 0 AND {row}.page BETWEEN 1 AND {document}.page_count) OR (COALESCE({document}.page_count, 0) <= 0 AND {row}.page = 0))";

    /// <summary>Finds a run by name or id, or null.</summary>
    public async Task<RunInfo?> FindRunAsync(DbConnection connection, DbTransaction? transaction, string? name, Guid? id, CancellationToken ct)
    {
        using var b = Command(connection, transaction);
        b.Sql.Append(CultureInfo.InvariantCulture,
            $"SELECT id, name, source, model, {Dialect.JsonText("tasks")}, created_at, last_listed_key, listing_completed, listed_count, enqueued_count FROM runs WHERE ");
        b.Sql.Append(name is not null ? $"name = {b.Text(name)}" : $"id = {b.Guid(id)}");
        var runs = await ReadAsync(b.Build(), ReadRun, ct).ConfigureAwait(false);
        return runs.Count == 0 ? null : runs[0];
    }

    /// <summary>Opens a raw connection and transaction for tests that must hold a write open (e.g. delayed commits).</summary>
    public async Task<(PipelineDbContext Context, DbConnection Connection, DbTransaction Transaction)> BeginRawAsync(CancellationToken ct)
    {
        var context = Factory.CreateDbContext();
        await context.Database.OpenConnectionAsync(ct).ConfigureAwait(false);
        var connection = context.Database.GetDbConnection();
        var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        return (context, connection, transaction);
    }

    /// <summary>Appends <paramref name="rows"/> as a comma-separated list, each written by <paramref name="appendRow"/>.</summary>
    public static void AppendRows<T>(SqlCommandBuilder b, IEnumerable<T> rows, Action<T, StringBuilder> appendRow)
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

    private static RunInfo ReadRun(DbDataReader reader)
    {
        var taskList = JsonSerializer.Deserialize<List<string>>(reader.GetString(4))
            ?? throw new InvalidOperationException($"runs.tasks of run '{reader.GetString(1)}' is not a JSON array of task keys.");
        return new RunInfo(reader.GetNullableGuid(0)!.Value, reader.GetString(1), reader.GetString(2), reader.GetString(3), taskList,
            reader.GetUtcDateTime(5), reader.GetNullableString(6), reader.GetBool(7), reader.GetLong(8), reader.GetLong(9));
    }
}

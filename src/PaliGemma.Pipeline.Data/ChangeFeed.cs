using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The change feed: every result row in commit order, read by cursor (<see cref="ReadChangesAsync"/>), followed as it
/// grows (<see cref="FollowChangesAsync"/>), or announced by Postgres NOTIFY (<see cref="ListenAsync"/>).
/// </summary>
public sealed partial class ResultStore
{
    /// <summary>
    /// Reads the change feed after <paramref name="cursor"/>. Never skips a committed row under concurrent
    /// writers: on Postgres only rows written by transactions older than the snapshot's xmin (all finished, so
    /// no in-flight transaction can later commit a row that sorts before them) are returned, in (txid, seq)
    /// order. On SQLite the single writer makes the sequence commit-ordered.
    /// Latency, not loss: xmin is server-wide, so any open write transaction on the Postgres server (in any
    /// database) holds newer rows back until it ends; keep worker batches short and poll with the returned cursor.
    /// </summary>
    public Task<ChangePage> ReadChangesAsync(ChangeCursor cursor, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                var b = new SqlCommandBuilder(connection, transaction, _factory.Provider);
                const string columns = "id, uri, etag, model, task, text, {0}, prompt_tokens, generated_tokens, superseded, updated_at";
                if (IsPostgres)
                {
                    // A row comparison, not "txid > t OR (txid = t AND seq > s)": only the former bounds the scan of
                    // ix_results_feed from below, and the OR form re-read every earlier row on each page (a 100,000-row feed
                    // took 106 ms a page at its end instead of 0.6 ms).
                    var tx = $"CAST(CAST({b.Long(cursor.TransactionId)} AS text) AS xid8)";
                    b.Sql.Append(CultureInfo.InvariantCulture,
                        $"SELECT {string.Format(CultureInfo.InvariantCulture, columns, "boxes::text")}, CAST(CAST(txid AS text) AS bigint), change_seq FROM results WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) AND (txid, change_seq) > ({tx}, {b.Long(cursor.Sequence)}) ORDER BY txid, change_seq LIMIT {b.Int(limit)}");
                }
                else
                {
                    b.Sql.Append(CultureInfo.InvariantCulture,
                        $"SELECT {string.Format(CultureInfo.InvariantCulture, columns, "boxes")}, 0, change_seq FROM results WHERE change_seq > {b.Long(cursor.Sequence)} ORDER BY change_seq LIMIT {b.Int(limit)}");
                }

                await using var command = b.Build();
                await using var reader = await command.ExecuteReaderAsync(ct);
                var rows = new List<ChangeFeedRow>();
                var next = cursor;
                while (await reader.ReadAsync(ct))
                {
                    next = new ChangeCursor(reader.GetLong(11), reader.GetLong(12));
                    rows.Add(new ChangeFeedRow(reader.GetLong(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        reader.GetNullableString(5), reader.GetNullableString(6), reader.GetBool(9), reader.GetUtcDateTime(10), next)
                    {
                        PromptTokens = Convert.ToInt32(reader.GetValue(7), CultureInfo.InvariantCulture),
                        GeneratedTokens = Convert.ToInt32(reader.GetValue(8), CultureInfo.InvariantCulture),
                    });
                }

                return new ChangePage(rows, next);
            },
            cancellationToken);
    }

    /// <summary>
    /// Follows the feed after <paramref name="cursor"/>: yields each non-empty page of at most
    /// <paramref name="pageSize"/> rows as soon as it is readable, and never ends on its own (it throws
    /// <see cref="OperationCanceledException"/> when cancelled). Once caught up it waits: on Postgres for a NOTIFY
    /// on <see cref="NotifyChannel"/> (LISTEN starts before the first read, so no commit falls between the two) or
    /// <paramref name="interval"/>, whichever comes first; on SQLite for <paramref name="interval"/>. The timer is
    /// what makes rows held back behind an older open transaction appear once it ends (that transaction may write no
    /// result, so nothing notifies), and it bounds the cost of a lost notification or listen connection to one interval.
    /// </summary>
    public async IAsyncEnumerable<ChangePage> FollowChangesAsync(
        ChangeCursor cursor, int pageSize, TimeSpan interval, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        await using var waiter = new ChangeWaiter(IsPostgres ? _factory.ConnectionString : null, _time, _logger);
        await waiter.StartAsync(cancellationToken);
        while (true)
        {
            ChangePage page;
            do
            {
                page = await ReadChangesAsync(cursor, pageSize, cancellationToken);
                if (page.Rows.Count > 0)
                {
                    cursor = page.Next;
                    yield return page;
                }
            }
            while (page.Rows.Count == pageSize);

            await waiter.WaitAsync(interval, cancellationToken);
        }
    }

    /// <summary>
    /// Postgres only: yields the ids of each NOTIFY on <see cref="NotifyChannel"/> (an empty list means "many
    /// rows, read the feed"). A wake-up for <see cref="ReadChangesAsync"/> readers, not a delivery guarantee:
    /// notifications sent while not listening are lost, so readers always page from their cursor.
    /// Ends by throwing <see cref="OperationCanceledException"/> when cancelled.
    /// </summary>
    public async IAsyncEnumerable<IReadOnlyList<long>> ListenAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!IsPostgres)
        {
            throw new InvalidOperationException(
                "ListenAsync needs Database:Provider=Postgres; with SQLite poll ReadChangesAsync instead (there is no LISTEN/NOTIFY).");
        }

        var channel = Channel.CreateUnbounded<IReadOnlyList<long>>();
        await using var connection = await ChangeWaiter.OpenListenerAsync(
            _factory.ConnectionString, e => channel.Writer.TryWrite(ParseIds(e.Payload)), cancellationToken);
        while (true)
        {
            await connection.WaitAsync(cancellationToken);
            while (channel.Reader.TryRead(out var ids))
            {
                yield return ids;
            }
        }
    }

    private static IReadOnlyList<long> ParseIds(string payload) =>
        payload.Length == 0
            ? []
            : payload.Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToList();
}

/// <summary>
/// How a follower waits once caught up. Postgres: one connection that LISTENs on <see cref="ResultStore.NotifyChannel"/>;
/// a wait ends at the first notification (buffered ones end it at once) or after the interval. A broken listen
/// connection is dropped and re-opened on the next wait; until then the follower polls, so a database restart costs
/// latency, never rows. SQLite (no connection string): a plain timer.
/// </summary>
internal sealed partial class ChangeWaiter(string? postgresConnectionString, TimeProvider time, ILogger logger) : IAsyncDisposable
{
    private NpgsqlConnection? _listener;

    /// <summary>Starts listening (Postgres); call before the first read so that no commit is announced unheard.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (postgresConnectionString is not null)
        {
            await TryListenAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Returns after a notification or <paramref name="interval"/>, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan interval, CancellationToken ct)
    {
        if (postgresConnectionString is null || (_listener is null && !await TryListenAsync(ct).ConfigureAwait(false)))
        {
            await Task.Delay(interval, time, ct).ConfigureAwait(false);
            return;
        }

        try
        {
            await _listener!.WaitAsync(interval, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when ((ex is NpgsqlException or IOException or TimeoutException) && !ct.IsCancellationRequested)
        {
            ListenLost(logger, ex.Message);
            await DropAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => DropAsync();

    /// <summary>Opens a connection that LISTENs on the feed's channel and hands each notification to <paramref name="onNotification"/>.</summary>
    internal static async Task<NpgsqlConnection> OpenListenerAsync(string connectionString, Action<NpgsqlNotificationEventArgs>? onNotification, CancellationToken ct)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            if (onNotification is not null)
            {
                connection.Notification += (_, e) => onNotification(e);
            }

            await connection.OpenAsync(ct).ConfigureAwait(false);
            await using var listen = new NpgsqlCommand($"LISTEN {ResultStore.NotifyChannel}", connection);
            await listen.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<bool> TryListenAsync(CancellationToken ct)
    {
        try
        {
            _listener = await OpenListenerAsync(postgresConnectionString!, null, ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when ((ex is DbException or IOException or TimeoutException) && !ct.IsCancellationRequested)
        {
            ListenLost(logger, ex.Message);
            return false;
        }
    }

    private async ValueTask DropAsync()
    {
        if (_listener is { } listener)
        {
            _listener = null;
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 3101, EventName = "FeedListenLost", Level = LogLevel.Warning,
        Message = "Change feed: listening for notifications failed ({Reason}); polling at the follow interval until it reconnects")]
    private static partial void ListenLost(ILogger logger, string reason);
}

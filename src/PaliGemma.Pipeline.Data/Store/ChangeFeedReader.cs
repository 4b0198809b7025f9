using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The change feed: every result row in commit order, read by cursor, followed as it grows, or announced by Postgres
/// NOTIFY. Members are documented on <see cref="ResultStore"/>.
/// </summary>
internal sealed class ChangeFeedReader(StoreContext store)
{
    public Task<ChangePage> ReadChangesAsync(ChangeCursor cursor, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return store.ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                const string columns = "id, uri, etag, model, task, text, {0}, prompt_tokens, generated_tokens, superseded, updated_at, page";
                store.Dialect.AppendFeedQuery(b, columns, cursor, limit);
                var rows = await StoreContext.ReadAsync(b.Build(), ReadRow, ct).ConfigureAwait(false);
                return new ChangePage(rows, rows.Count == 0 ? cursor : rows[^1].Position);
            },
            cancellationToken);
    }

    public async IAsyncEnumerable<ChangePage> FollowChangesAsync(
        ChangeCursor cursor, int pageSize, TimeSpan interval, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        var waiter = store.Dialect.CreateWaiter(store.Factory.ConnectionString, store.Time, store.Logger);
        await using (waiter.ConfigureAwait(false))
        {
            await waiter.StartAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                ChangePage page;
                do
                {
                    page = await ReadChangesAsync(cursor, pageSize, cancellationToken).ConfigureAwait(false);
                    if (page.Rows.Count > 0)
                    {
                        cursor = page.Next;
                        yield return page;
                    }
                }
                while (page.Rows.Count == pageSize);

                await waiter.WaitAsync(interval, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async IAsyncEnumerable<IReadOnlyList<long>> ListenAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!store.Dialect.HasNotify)
        {
            throw new InvalidOperationException(
                "ListenAsync needs Database:Provider=Postgres; with SQLite poll ReadChangesAsync instead (there is no LISTEN/NOTIFY).");
        }

        var channel = Channel.CreateUnbounded<IReadOnlyList<long>>();
        var connection = await ChangeWaiter.OpenListenerAsync(
            store.Factory.ConnectionString, e => channel.Writer.TryWrite(ParseIds(e.Payload)), cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            while (true)
            {
                await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
                while (channel.Reader.TryRead(out var ids))
                {
                    yield return ids;
                }
            }
        }
    }

    private static ChangeFeedRow ReadRow(DbDataReader reader) =>
        new(reader.GetLong(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
            reader.GetNullableString(5), reader.GetNullableString(6), reader.GetBool(9), reader.GetUtcDateTime(10),
            new ChangeCursor(reader.GetLong(12), reader.GetLong(13)))
        {
            Page = StoreContext.ReadPage(reader, 11),
            PromptTokens = Convert.ToInt32(reader.GetValue(7), CultureInfo.InvariantCulture),
            GeneratedTokens = Convert.ToInt32(reader.GetValue(8), CultureInfo.InvariantCulture),
        };

    private static IReadOnlyList<long> ParseIds(string payload) =>
        payload.Length == 0
            ? []
            : payload.Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToList();
}

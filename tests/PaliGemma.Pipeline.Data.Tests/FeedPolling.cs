namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Reads the change feed with one persistent cursor until a condition holds or a deadline passes. Needed
/// because on Postgres the feed waits for every older write transaction on the whole server (any database,
/// e.g. another test class running in parallel) to finish: rows arrive late, never out of order or twice.
/// </summary>
public static class FeedPolling
{
    public static async Task<(List<ChangeFeedRow> Rows, ChangeCursor Next)> ReadUntilAsync(
        ResultStore store, ChangeCursor cursor, Func<IReadOnlyList<ChangeFeedRow>, bool> done, CancellationToken cancellationToken, int pageSize = 1000)
    {
        var rows = new List<ChangeFeedRow>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var page = await store.ReadChangesAsync(cursor, pageSize, cancellationToken);
            rows.AddRange(page.Rows);
            cursor = page.Next;
            if (done(rows) || DateTime.UtcNow > deadline)
            {
                return (rows, cursor);
            }

            if (page.Rows.Count == 0)
            {
                await Task.Delay(20, cancellationToken);
            }
        }
    }

    /// <summary>Reads until at least <paramref name="count"/> rows arrived, then once more to catch extras.</summary>
    public static async Task<(List<ChangeFeedRow> Rows, ChangeCursor Next)> ReadAtLeastAsync(
        ResultStore store, ChangeCursor cursor, int count, CancellationToken cancellationToken, int pageSize = 1000)
    {
        var (rows, next) = await ReadUntilAsync(store, cursor, r => r.Count >= count, cancellationToken, pageSize);
        var extra = await store.ReadChangesAsync(next, 10_000, cancellationToken);
        rows.AddRange(extra.Rows);
        return (rows, extra.Next);
    }
}

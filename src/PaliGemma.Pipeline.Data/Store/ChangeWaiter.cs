using System.Data.Common;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace PaliGemma.Pipeline.Data;

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
            using var listen = new NpgsqlCommand($"LISTEN {ResultStore.NotifyChannel}", connection);
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

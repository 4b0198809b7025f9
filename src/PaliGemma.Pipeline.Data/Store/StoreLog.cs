using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Data;

/// <summary>The result store's log events (3001-3099; the change feed's waiter uses 3101).</summary>
internal static partial class StoreLog
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

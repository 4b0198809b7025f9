using MassTransit;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Logs the batch retry policy at work, so an outage shows in a worker's log as failed attempts, retries and the
/// attempt that finally succeeded (or the batch given up to the error queue), each with the cause.
/// </summary>
internal sealed partial class BatchRetryLog(ILogger logger) : IRetryObserver
{
    public Task PostCreate<T>(RetryPolicyContext<T> context)
        where T : class, PipeContext => Task.CompletedTask;

    public Task PostFault<T>(RetryContext<T> context)
        where T : class, PipeContext
    {
        ArgumentNullException.ThrowIfNull(context);
        BatchAttemptFailed(logger, context.RetryCount + 1, context.Exception.GetType().Name, context.Exception.Message,
            (long)(context.Delay?.TotalMilliseconds ?? 0));
        return Task.CompletedTask;
    }

    public Task PreRetry<T>(RetryContext<T> context)
        where T : class, PipeContext => Task.CompletedTask;

    public Task RetryFault<T>(RetryContext<T> context)
        where T : class, PipeContext
    {
        ArgumentNullException.ThrowIfNull(context);
        BatchRetriesExhausted(logger, context.RetryCount, context.Exception);
        return Task.CompletedTask;
    }

    public Task RetryComplete<T>(RetryContext<T> context)
        where T : class, PipeContext
    {
        ArgumentNullException.ThrowIfNull(context);
        BatchRecovered(logger, context.RetryCount);
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 2102, EventName = "BatchAttemptFailed", Level = LogLevel.Warning,
        Message = "Batch attempt {Attempt} failed with {Error}: {Message}; retrying in place in {DelayMs} ms")]
    private static partial void BatchAttemptFailed(ILogger logger, int attempt, string error, string message, long delayMs);

    [LoggerMessage(EventId = 2103, EventName = "BatchRecovered", Level = LogLevel.Information, Message = "Batch succeeded after {Retries} retries")]
    private static partial void BatchRecovered(ILogger logger, int retries);

    [LoggerMessage(EventId = 2104, EventName = "BatchRetriesExhausted", Level = LogLevel.Error,
        Message = "Batch failed after {Retries} retries; its messages go to the error queue")]
    private static partial void BatchRetriesExhausted(ILogger logger, int retries, Exception exception);
}

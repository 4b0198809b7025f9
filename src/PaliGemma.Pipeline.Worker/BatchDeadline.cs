using System.Diagnostics;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// The time limit of one batch (<see cref="WorkerOptions.MaxBatchDurationMs"/>). Its token is cancelled by a timer so
/// that long steps (a fetch, a generation) stop on time, but a timer callback needs a free thread-pool thread, and a
/// pool busy with CPU-bound decoding can run it seconds late. So the stages also read the clock themselves, between
/// images and between stages: a batch past its limit is abandoned however busy the pool is.
/// </summary>
internal sealed class BatchDeadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly Stopwatch _clock;
    private readonly TimeSpan _limit;

    /// <param name="limit">How long the batch may run.</param>
    /// <param name="clock">The batch's clock, started when it was received.</param>
    /// <param name="consumer">The consumer's token: cancelling it cancels the deadline's token too.</param>
    public BatchDeadline(TimeSpan limit, Stopwatch clock, CancellationToken consumer)
    {
        _clock = clock;
        _limit = limit;
        _source = CancellationTokenSource.CreateLinkedTokenSource(consumer);
        var left = limit - clock.Elapsed;
        _source.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
    }

    /// <summary>Cancelled when the limit passes (or the consumer's token is).</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Whether the deadline's token was cancelled, by the limit or by the consumer.</summary>
    public bool IsCancellationRequested => _source.IsCancellationRequested;

    /// <summary>Cancels the token if the limit has passed by the clock, then throws if it is cancelled.</summary>
    /// <exception cref="OperationCanceledException">The limit has passed, or the consumer's token was cancelled.</exception>
    public void ThrowIfPast()
    {
        if (_clock.Elapsed >= _limit && !_source.IsCancellationRequested)
        {
            _source.Cancel();
        }

        _source.Token.ThrowIfCancellationRequested();
    }

    /// <inheritdoc />
    public void Dispose() => _source.Dispose();
}

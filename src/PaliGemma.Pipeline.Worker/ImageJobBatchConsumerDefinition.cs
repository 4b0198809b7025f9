using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Endpoint policy for the batch consumer: the model's queue, batch size and time limit, prefetch covering
/// ConcurrencyLimit full batches, and retries for infrastructure faults before a batch is given up to the error queue.
/// </summary>
/// <remarks>
/// The retry runs in place: the batch's messages stay unacknowledged on this worker while it waits, so a database
/// outage shorter than the policy's <see cref="RetryPolicyOptions.Coverage"/> (105 s by default) ends with every
/// message processed and none in the error queue. A broker outage needs no retry here: the broker requeues what was
/// unacknowledged when the connection dropped, and MassTransit reconnects the endpoint by itself.
/// </remarks>
public sealed class ImageJobBatchConsumerDefinition : ConsumerDefinition<ImageJobBatchConsumer>
{
    private readonly WorkerOptions _options;
    private readonly RetryPolicyOptions _retry;
    private readonly ILogger _logger;

    /// <summary>Creates the definition for the model this worker serves.</summary>
    public ImageJobBatchConsumerDefinition(ModelReference model, IOptions<WorkerOptions> options, IOptions<MessagingOptions> messaging,
        IOptionsMonitor<RetryPolicyOptions> retry, ILogger<ImageJobBatchConsumerDefinition> logger)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(messaging);
        ArgumentNullException.ThrowIfNull(retry);
        _options = options.Value;
        _retry = retry.Get(RetryPolicyOptions.WorkerBatch);
        _logger = logger;
        if (_retry.Coverage.TotalMilliseconds + _options.MaxBatchDurationMs >= messaging.Value.ConsumerTimeoutMs)
        {
            // Retrying in place holds the batch unacknowledged; past consumer_timeout the broker would close the channel.
            throw new OptionsValidationException(RetryPolicyOptions.WorkerBatch, typeof(RetryPolicyOptions),
                [$"{RetryPolicyOptions.WorkerBatch} waits {_retry.Coverage.TotalSeconds:0.#} s in all; with Worker:MaxBatchDurationMs ({_options.MaxBatchDurationMs}) that must stay inside Messaging:ConsumerTimeoutMs ({messaging.Value.ConsumerTimeoutMs})."]);
        }

        if (_options.BatchTimeLimitMs * 4L >= messaging.Value.ConsumerTimeoutMs || _options.MaxBatchDurationMs >= messaging.Value.ConsumerTimeoutMs)
        {
            throw new OptionsValidationException(WorkerOptions.SectionName, typeof(WorkerOptions),
                [$"Worker:BatchTimeLimitMs ({_options.BatchTimeLimitMs}) and Worker:MaxBatchDurationMs ({_options.MaxBatchDurationMs}) must stay well inside Messaging:ConsumerTimeoutMs ({messaging.Value.ConsumerTimeoutMs}), or RabbitMQ closes the channel mid-batch."]);
        }

        EndpointName = model.Key.QueueName;
        ConcurrentMessageLimit = _options.BatchSize * _options.ConcurrencyLimit;
    }

    /// <inheritdoc />
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<ImageJobBatchConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        ArgumentNullException.ThrowIfNull(consumerConfigurator);
        endpointConfigurator.PrefetchCount = _options.EffectivePrefetch;
        // Before the retry filter and before batching: a malformed message faults alone, at once, to the error queue.
        endpointConfigurator.UseFilter(new ImageJobValidationFilter(
            (context?.GetService(typeof(ILoggerFactory)) as ILoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ImageJobValidationFilter>()));
        // Infrastructure faults (database restart, storage outage) clear within a minute or two; retry the batch in
        // place before giving it to the error queue. Bad images never throw, so they are not retried; nor is a
        // misrouted job, which fails the same way every time.
        var delays = _retry.Delays().ToArray();
        endpointConfigurator.UseMessageRetry(r =>
        {
            if (delays.Length == 0)
            {
                r.None();
            }
            else
            {
                r.Intervals(delays);
            }

            r.Ignore<MisroutedJobException>();
            r.ConnectRetryObserver(new BatchRetryLog(_logger));
        });
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(_options.BatchSize)
            .SetTimeLimit(TimeSpan.FromMilliseconds(_options.BatchTimeLimitMs))
            .SetConcurrencyLimit(_options.ConcurrencyLimit));
    }
}

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
public sealed class ImageJobBatchConsumerDefinition : ConsumerDefinition<ImageJobBatchConsumer>
{
    private readonly WorkerOptions _options;

    /// <summary>Creates the definition for the model this worker serves.</summary>
    public ImageJobBatchConsumerDefinition(ModelReference model, IOptions<WorkerOptions> options, IOptions<MessagingOptions> messaging)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(messaging);
        _options = options.Value;
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
        // Infrastructure faults (database restart, storage hiccup) usually clear within seconds; retry the batch in
        // place before giving it to the error queue. Bad images never throw, so they are not retried; nor is a
        // misrouted job, which fails the same way every time.
        endpointConfigurator.UseMessageRetry(r => r.Exponential(5, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(2))
            .Ignore<MisroutedJobException>());
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(_options.BatchSize)
            .SetTimeLimit(TimeSpan.FromMilliseconds(_options.BatchTimeLimitMs))
            .SetConcurrencyLimit(_options.ConcurrencyLimit));
    }
}

using MassTransit;
using Microsoft.Extensions.Logging;
using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Runs <see cref="ImageJobValidator"/> on each message as it arrives, before it joins a batch. A message that fails
/// throws <see cref="InvalidImageJobException"/> on its own, so MassTransit moves just that message to the error queue
/// (the reason in its MT-Fault-Message header) while its would-be batch mates carry on. Checking inside the batch
/// consumer instead would fault the whole batch.
/// </summary>
/// <remarks>
/// Sits on the endpoint ahead of the retry filter: retrying cannot make a malformed message valid. A body that is not
/// JSON, or JSON without a required field, never gets here: MassTransit's deserializer throws first, which also ends
/// in the error queue with the reason.
/// </remarks>
public sealed class ImageJobValidationFilter(ILogger logger) : IFilter<ConsumeContext>
{
    /// <inheritdoc />
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        if (context.TryGetMessage<ImageJob>(out var job))
        {
            var problems = ImageJobValidator.Validate(job.Message);
            if (problems.Count > 0)
            {
                var error = new InvalidImageJobException(job.Message?.Uri, problems);
                WorkerLog.InvalidMessage(logger, context.MessageId?.ToString() ?? "(none)", error.Message);
                throw error;
            }
        }

        await next.Send(context).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Probe(ProbeContext context) => context?.CreateFilterScope("imageJobValidation");
}

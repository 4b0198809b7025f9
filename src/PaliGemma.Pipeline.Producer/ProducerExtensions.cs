using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Producer;

/// <summary>Registers the producer with a host.</summary>
public static class ProducerExtensions
{
    /// <summary>
    /// Binds Producer options (validated at start), the catalog and the store, and <see cref="EnqueueService"/>.
    /// Registers the bus too unless <paramref name="withBus"/> is false (the embedded run registers it once with the worker).
    /// </summary>
    public static IHostApplicationBuilder AddProducer(this IHostApplicationBuilder builder, bool withBus = true)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<ProducerOptions>().BindConfiguration(ProducerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        // Default: a page rides out 105 s of database outage (1, 2, 4, 8, then 15 s six times); a broker outage needs
        // no retry here, as MassTransit holds a send until it has reconnected.
        builder.Services.AddRetryPolicy(RetryPolicyOptions.ProducerPage, retryLimit: 10, initialDelayMs: 1000, maxDelayMs: 15_000);
        builder.Services.AddCatalog();
        builder.Services.AddPipelineData(builder.Configuration);
        builder.Services.TryAddSingleton<EnqueueService>();
        if (withBus)
        {
            builder.Services.AddPipelineBus(builder.Configuration);
        }

        return builder;
    }
}

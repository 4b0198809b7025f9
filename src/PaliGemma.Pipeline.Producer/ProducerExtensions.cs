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
        // Default: a page rides out 121 s of broker or database outage (1, 2, 4, 8, 16, 30, 30, 30 s).
        builder.Services.AddRetryPolicy(RetryPolicyOptions.ProducerPage, retryLimit: 8, initialDelayMs: 1000, maxDelayMs: 30_000);
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

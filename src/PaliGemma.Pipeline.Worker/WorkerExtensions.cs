using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Runtime;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Documents;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Worker;

/// <summary>Registers the worker with a host.</summary>
public static class WorkerExtensions
{
    /// <summary>
    /// Binds Worker and Inference options (validated at start), the catalog and store, the model host and the batch
    /// consumer on the model's queue. Call after <see cref="HostingExtensions.AddPipelineDefaults"/>.
    /// </summary>
    public static IHostApplicationBuilder AddWorker(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.SectionName).ValidateDataAnnotations()
            .Validate(o => TryParseDtype(o.Dtype), "Inference:Dtype must be one of fp32, fp16, q4, q4f16, int8, uint8, quantized, bnb4.")
            .ValidateOnStart();
        services.AddWorkerRetryPolicies();
        services.AddCatalog();
        services.AddPipelineData(builder.Configuration);
        services.AddSingleton(sp => Resolve(builder.Configuration));
        services.AddSingleton<CatalogReader>();
        services.AddDocuments();
        services.AddSingleton<DocumentFiles>();
        services.AddSingleton<OpenDocuments>();
        services.AddSingleton<DocumentStage>();
        services.AddSingleton<ModelHost>();
        // Registered before the bus so the model is loaded before the first message is consumed.
        services.AddHostedService(sp => sp.GetRequiredService<ModelHost>());
        services.AddPipelineBus(builder.Configuration, x => x.AddConsumer<ImageJobBatchConsumer, ImageJobBatchConsumerDefinition>());
        services.Configure<HostOptions>(o =>
        {
            // Draining finishes the batch in hand; give it as long as a batch may take.
            var worker = builder.Configuration.GetSection(WorkerOptions.SectionName).Get<WorkerOptions>() ?? new WorkerOptions();
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(worker.MaxBatchDurationMs);
        });
        return builder;
    }

    /// <summary>
    /// Registers the worker's retry policies with their defaults: a batch rides out 105 s of database or storage outage
    /// (1, 2, 4, 8, then 15 s six times) and one download 11.75 s of storage outage (0.25 s doubling to 4 s, six
    /// retries) before its batch is retried. Both bind from configuration (Worker:Retry, Worker:FetchRetry).
    /// </summary>
    public static IServiceCollection AddWorkerRetryPolicies(this IServiceCollection services)
    {
        services.AddRetryPolicy(RetryPolicyOptions.WorkerBatch, retryLimit: 10, initialDelayMs: 1000, maxDelayMs: 15_000);
        services.AddRetryPolicy(RetryPolicyOptions.WorkerFetch, retryLimit: 6, initialDelayMs: 250, maxDelayMs: 4000);
        return services;
    }

    /// <summary>The model reference a configuration names (Worker:Model, Worker:ModelsDirectory, Inference:Dtype).</summary>
    public static ModelReference Resolve(IConfiguration configuration)
    {
        var worker = configuration.GetSection(WorkerOptions.SectionName).Get<WorkerOptions>() ?? new WorkerOptions();
        var inference = configuration.GetSection(InferenceOptions.SectionName).Get<InferenceOptions>() ?? new InferenceOptions();
        if (string.IsNullOrWhiteSpace(worker.Model))
        {
            throw new OptionsValidationException(WorkerOptions.SectionName, typeof(WorkerOptions), ["Worker:Model is required (--model)."]);
        }

        return ModelReference.Resolve(worker.Model, inference.Dtype, worker.ModelsDirectory);
    }

    private static bool TryParseDtype(string dtype)
    {
        try
        {
            _ = ModelDtypes.Parse(dtype);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

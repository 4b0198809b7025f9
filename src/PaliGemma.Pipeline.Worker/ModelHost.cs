using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Runtime;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Owns the worker's one model. Loading happens in StartAsync, before the bus starts, so no message is consumed
/// until the model is ready, and a model that cannot load stops the worker with the reason instead of failing
/// every batch. Readiness turns true only after the load.
/// </summary>
public sealed class ModelHost(
    ModelReference reference,
    IOptions<InferenceOptions> inferenceOptions,
    IOptions<WorkerOptions> workerOptions,
    ReadinessState readiness,
    ILoggerFactory loggerFactory) : IHostedService, IDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<ModelHost>();
    private PaliGemmaModel? _model;

    /// <summary>The loaded model.</summary>
    public PaliGemmaModel Model => _model ?? throw new InvalidOperationException("The model is not loaded yet.");

    /// <summary>The model key results are stored under.</summary>
    public string ModelKey => reference.Key.ToString();

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var folder = reference.Folder ?? throw new InvalidOperationException(reference.MissingReason ??
            $"Model '{reference.Key.Id}' not found: Worker:Model must be a model folder or an id under Worker:ModelsDirectory.");
        WorkerLog.ModelLoading(_logger, ModelKey, folder);
        try
        {
            var w = workerOptions.Value;
            var options = inferenceOptions.Value.Copy();
            options.MaxBatchSize = Math.Max(options.MaxBatchSize, w.BatchSize);
            // The worker decodes the next batch's images on the same cores while the model runs; spinning intra-op
            // threads took ~3 ms of CPU per image from that decoding in `pgpipe bench pipeline` (tiny model, 2 cores).
            options.AllowSpinning ??= false;
            _model = PaliGemmaModel.Load(folder, options, loggerFactory.CreateLogger<PaliGemmaModel>(),
                new ImageDecodeLimits(MaxPixels: w.MaxImagePixels, MaxBytes: w.MaxImageBytes));
        }
        catch (Exception ex)
        {
            WorkerLog.ModelLoadFailed(_logger, ModelKey, ex);
            readiness.MarkFailed("model failed to load: " + ex.Message);
            throw;
        }

        WorkerLog.ModelLoaded(_logger, ModelKey, _model.Device, reference.Key.QueueName);
        readiness.MarkLoaded();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public void Dispose() => _model?.Dispose();
}

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Runtime;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>The worker's model host adapts inference settings to its batch size without touching the shared options.</summary>
public sealed class ModelHostTests
{
    [Fact]
    public async Task Loading_the_model_leaves_the_configured_inference_options_as_they_were()
    {
        // Given inference options bound once and shared, and a worker batch larger than their batch size
        var shared = new InferenceOptions { Device = ExecutionDevice.Cpu, MaxBatchSize = 2 };
        var worker = new WorkerOptions { Model = Fixtures.TinyModel, BatchSize = 16 };
        using var host = new ModelHost(ModelReference.Resolve(Fixtures.TinyModel, "fp32", null), Options.Create(shared),
            Options.Create(worker), new ReadinessState(), NullLoggerFactory.Instance);

        // When the host loads its model
        await host.StartAsync(CancellationToken.None);

        // Then the model is loaded and the shared options still read what configuration said
        Assert.Equal("cpu", host.Model.Device);
        Assert.Equal(2, shared.MaxBatchSize);
        Assert.Null(shared.AllowSpinning);
    }
}

using System.CommandLine;
using Microsoft.Extensions.Logging;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Runtime;
using PaliGemma.ModelLayout;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>Options shared by commands that load a model.</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model", "-m") { Description = "Model folder (Hugging Face / onnx-community layout) or Hugging Face repo id (owner/name[@revision]) resolved from the shared cache.", Required = true };

    public Option<string> Dtype { get; } = new("--dtype")
    {
        Description = $"Graph variant to load: {string.Join(", ", ModelDtypes.Names)}.",
        DefaultValueFactory = _ => "fp32",
    };

    public Option<ExecutionDevice> Device { get; } = new("--device")
    {
        Description = "auto (CUDA when available, else CPU), cpu or cuda.",
        DefaultValueFactory = _ => ExecutionDevice.Auto,
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "ONNX Runtime intra-op threads per session (0: ONNX Runtime's default, all cores).",
        DefaultValueFactory = _ => 0,
    };

    public Option<int> BatchSize { get; } = new("--batch-size")
    {
        Description = "Most (image, prompt) rows per decoder call.",
        DefaultValueFactory = _ => 8,
    };

    public Option<GraphOptimization> Optimization { get; } = new("--graph-optimization")
    {
        Description = "ONNX Runtime graph optimisation level: Disabled, Basic, Extended, All.",
        DefaultValueFactory = _ => GraphOptimization.All,
    };

    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Log model loading and provider decisions to stderr." };

    public void AddTo(Command command)
    {
        command.Add(Model);
        command.Add(Dtype);
        command.Add(Device);
        command.Add(Threads);
        command.Add(BatchSize);
        command.Add(Optimization);
        command.Add(Verbose);
    }

    /// <summary>The values given (or defaulted) for these options.</summary>
    public ModelSettings Bind(ParseResult result) => new(result.GetValue(Model)!, result.GetValue(Dtype) ?? "fp32", result.GetValue(Device), result.GetValue(Threads),
        result.GetValue(BatchSize), result.GetValue(Optimization), result.GetValue(Verbose));
}

/// <summary>The model options of one invocation.</summary>
internal sealed record ModelSettings(string Model, string Dtype, ExecutionDevice Device, int Threads, int BatchSize, GraphOptimization Optimization, bool Verbose)
{
    /// <summary>The inference options these settings stand for.</summary>
    public InferenceOptions ToInferenceOptions() => new()
    {
        Dtype = Dtype,
        Device = Device,
        IntraOpThreads = Threads,
        MaxBatchSize = Math.Max(1, BatchSize),
        GraphOptimization = Optimization,
    };
}

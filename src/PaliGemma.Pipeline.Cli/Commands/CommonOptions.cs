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

    public InferenceOptions ToInferenceOptions(ParseResult result) => new()
    {
        Dtype = result.GetValue(Dtype) ?? "fp32",
        Device = result.GetValue(Device),
        IntraOpThreads = result.GetValue(Threads),
        MaxBatchSize = Math.Max(1, result.GetValue(BatchSize)),
        GraphOptimization = result.GetValue(Optimization),
    };

    public ILoggerFactory CreateLoggerFactory(ParseResult result) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(result.GetValue(Verbose) ? LogLevel.Information : LogLevel.Warning);
        b.AddSimpleConsole(o => o.SingleLine = true);
        // stdout is for results (and JSON lines); every log line goes to stderr.
        b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });
}

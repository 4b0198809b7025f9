using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace PaliGemma.Inference.Runtime;

/// <summary>
/// Creates ONNX Runtime sessions with one resolved execution device. The device is decided once per factory,
/// so all three graphs of a model run on the same provider.
/// </summary>
internal sealed class SessionFactory
{
    private readonly InferenceOptions _options;
    private readonly ILogger _logger;

    public SessionFactory(InferenceOptions options, ILogger logger)
    {
        OrtTelemetry.EnsureDisabled();
        _options = options;
        _logger = logger;
        ResolvedDevice = Resolve();
    }

    /// <summary>The device sessions actually use ("cpu" or "cuda:N").</summary>
    public ExecutionDevice ResolvedDevice { get; }

    public string DeviceName => ResolvedDevice == ExecutionDevice.Cuda ? $"cuda:{_options.DeviceId}" : "cpu";

    public InferenceSession Create(string path, string graphName)
    {
        var sw = Stopwatch.StartNew();
        using var so = CreateOptions();
        var session = new InferenceSession(path, so);
        InferenceLog.SessionLoaded(_logger, graphName, DeviceName, sw.ElapsedMilliseconds);
        return session;
    }

    /// <summary>Creates a session from an in-memory (rewritten) graph whose external data, if any, lives beside <paramref name="originalPath"/>.</summary>
    public InferenceSession Create(byte[] model, string originalPath, string graphName)
    {
        var sw = Stopwatch.StartNew();
        using var so = CreateOptions();
        // A graph loaded from memory has no folder of its own; point ORT at the original file's folder so
        // weights kept in .onnx_data files next to it still resolve.
        so.AddSessionConfigEntry(PaliGemma.Inference.Onnx.OnnxModelInfo.ExternalInitializersFolderConfigKey, Path.GetDirectoryName(Path.GetFullPath(originalPath))!);
        var session = new InferenceSession(model, so);
        InferenceLog.SessionLoaded(_logger, graphName, DeviceName, sw.ElapsedMilliseconds);
        return session;
    }

    /// <summary>Creates a session from a self-contained graph built in code (no external data).</summary>
    public InferenceSession Create(byte[] model, string graphName)
    {
        var sw = Stopwatch.StartNew();
        using var so = CreateOptions();
        var session = new InferenceSession(model, so);
        InferenceLog.SessionLoaded(_logger, graphName, DeviceName, sw.ElapsedMilliseconds);
        return session;
    }

    private SessionOptions CreateOptions()
    {
        var so = new SessionOptions
        {
            GraphOptimizationLevel = _options.GraphOptimization switch
            {
                GraphOptimization.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
                GraphOptimization.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                GraphOptimization.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        if (_options.IntraOpThreads > 0)
        {
            so.IntraOpNumThreads = _options.IntraOpThreads;
        }

        if (_options.AllowSpinning is { } spin)
        {
            so.AddSessionConfigEntry("session.intra_op.allow_spinning", spin ? "1" : "0");
            so.AddSessionConfigEntry("session.inter_op.allow_spinning", spin ? "1" : "0");
        }

        if (_options.InterOpThreads > 0)
        {
            so.InterOpNumThreads = _options.InterOpThreads;
        }

        if (ResolvedDevice == ExecutionDevice.Cuda)
        {
            so.AppendExecutionProvider_CUDA(_options.DeviceId);
        }

        return so;
    }

    private ExecutionDevice Resolve()
    {
        if (_options.Device == ExecutionDevice.Cpu)
        {
            return ExecutionDevice.Cpu;
        }

        try
        {
            using var probe = new SessionOptions();
            probe.AppendExecutionProvider_CUDA(_options.DeviceId);
            return ExecutionDevice.Cuda;
        }
        catch (Exception ex) when (_options.Device == ExecutionDevice.Auto && ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException or TypeInitializationException)
        {
            var reason = ex.Message.Split('\n')[0];
            InferenceLog.CudaUnavailable(_logger, reason);
            return ExecutionDevice.Cpu;
        }
        catch (Exception ex) when (_options.Device == ExecutionDevice.Cuda && ex is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"--device cuda was requested but the CUDA execution provider could not start: {ex.Message}", ex);
        }
    }
}

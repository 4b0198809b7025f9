using Microsoft.ML.OnnxRuntime;
using PaliGemma.Inference.Generation;

namespace PaliGemma.Inference.Runtime;

/// <summary>The phase a transfer belongs to.</summary>
internal enum TransferPhase
{
    Vision,
    Prefill,
    Decode,
}

/// <summary>Counts host/device bytes of one Generate call into its <see cref="TransferStatistics"/>.</summary>
internal sealed class TransferCounter(TransferStatistics into)
{
    private int _batch;
    private int _step;
    private int _rows;
    private long _toDevice;
    private long _toHost;

    public TransferPhase Phase { get; set; }

    public TransferStatistics Statistics => into;

    public void Add(bool toDevice, long bytes)
    {
        switch (Phase)
        {
            case TransferPhase.Vision when toDevice: into.VisionHostToDevice += bytes; break;
            case TransferPhase.Vision: into.VisionDeviceToHost += bytes; break;
            case TransferPhase.Prefill when toDevice: into.PrefillHostToDevice += bytes; break;
            case TransferPhase.Prefill: into.PrefillDeviceToHost += bytes; break;
            case TransferPhase.Decode when toDevice: _toDevice += bytes; break;
            default: _toHost += bytes; break;
        }
    }

    public void BeginPrefill(int batch, int rows)
    {
        Phase = TransferPhase.Prefill;
        _batch = batch;
        _step = 0;
        into.PrefillRows += rows;
    }

    public void BeginStep(int rows)
    {
        Phase = TransferPhase.Decode;
        _step++;
        _rows = rows;
        _toDevice = 0;
        _toHost = 0;
    }

    public void EndStep()
    {
        if (Phase == TransferPhase.Decode)
        {
            into.Steps.Add(new DecodeStepTransfer(_batch, _step, _rows, _toDevice, _toHost));
        }
    }
}

/// <summary>
/// One session with its IOBinding: inputs and outputs are bound by name with the side they live on, so every byte that
/// crosses between host memory and the provider is counted, and outputs bound to the device stay there for the next
/// graph. Owns the binding, not the session.
/// </summary>
internal sealed class BoundGraph(InferenceSession session, DeviceMemory memory, TransferCounter counter) : IDisposable
{
    private readonly OrtIoBinding _binding = session.CreateIoBinding();
    private readonly List<MemorySide> _outputSides = [];
    private readonly List<string> _outputNames = [];

    /// <summary>Binds an input; a host tensor counts as a transfer to the device.</summary>
    public void Input(string name, OrtValue value, MemorySide side)
    {
        _binding.BindInput(name, value);
        if (side == MemorySide.Host)
        {
            counter.Add(toDevice: true, value.GetTensorSizeInBytes());
        }
    }

    /// <summary>Binds an output to be allocated by the provider on <paramref name="side"/> (fresh each run).</summary>
    public void Output(string name, MemorySide side)
    {
        _binding.BindOutputToDevice(name, memory.Info(side));
        Track(name, side);
    }

    /// <summary>Binds an output into a tensor we own (a view of a reused host buffer, or of a device table) on <paramref name="side"/>.</summary>
    public void Output(string name, OrtValue tensor, MemorySide side = MemorySide.Host)
    {
        _binding.BindOutput(name, tensor);
        Track(name, side);
    }

    /// <summary>
    /// Runs and hands over every output, in the order first bound, into <paramref name="into"/>; the caller owns them.
    /// Outputs on the host side count as transfers to the host.
    /// </summary>
    public void Run(RunOptions runOptions, Span<OrtValue?> into)
    {
        session.RunWithBinding(runOptions, _binding);
        var outputs = _binding.GetOutputValues();
        for (var i = 0; i < outputs.Count; i++)
        {
            var value = outputs[i];
            if (i < into.Length)
            {
                into[i] = value;
                if (_outputSides[i] == MemorySide.Host)
                {
                    counter.Add(toDevice: false, value.GetTensorSizeInBytes());
                }
            }
            else
            {
                value.Dispose();
            }
        }
    }

    public void Dispose() => _binding.Dispose();

    private void Track(string name, MemorySide side)
    {
        // A name bound again keeps its place (IOBinding replaces it in place), so output order is first-bound order.
        var index = _outputNames.IndexOf(name);
        if (index < 0)
        {
            _outputNames.Add(name);
            _outputSides.Add(side);
        }
        else
        {
            _outputSides[index] = side;
        }
    }
}

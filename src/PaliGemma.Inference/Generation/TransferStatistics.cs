namespace PaliGemma.Inference.Generation;

/// <summary>Bytes that crossed between host memory and provider-bound tensors in one decode step of one batch.</summary>
/// <param name="Batch">Index of the batch within the call.</param>
/// <param name="Step">1 for the first one-token step after prefill.</param>
/// <param name="Rows">Rows the step ran.</param>
/// <param name="HostToDevice">Bytes bound from host memory into the step's graphs.</param>
/// <param name="DeviceToHost">Bytes of the step's outputs read in host memory.</param>
public sealed record DecodeStepTransfer(int Batch, int Step, int Rows, long HostToDevice, long DeviceToHost);

/// <summary>
/// Host/device traffic of one <see cref="PaliGemmaModel.Generate"/> call, per phase. A tensor counts when its
/// binding's memory differs from where our code produced or reads it: host buffers bound as inputs, and outputs bound
/// to host memory. The count is the same on the CPU provider as on CUDA, where these are the copies over PCIe.
/// </summary>
public sealed class TransferStatistics
{
    /// <summary>Vision encoder: pixel values in (and image features out, when state is kept on the host).</summary>
    public long VisionHostToDevice { get; internal set; }

    /// <inheritdoc cref="VisionHostToDevice"/>
    public long VisionDeviceToHost { get; internal set; }

    /// <summary>Prefill: token ids, per-row prefix lengths and image slots in, the first chosen tokens out.</summary>
    public long PrefillHostToDevice { get; internal set; }

    /// <inheritdoc cref="PrefillHostToDevice"/>
    public long PrefillDeviceToHost { get; internal set; }

    /// <summary>Rows prefilled (the denominator of <see cref="PrefillBytesPerRow"/>).</summary>
    public long PrefillRows { get; internal set; }

    /// <summary>Every one-token decode step, in order.</summary>
    public IReadOnlyList<DecodeStepTransfer> DecodeSteps => Steps;

    /// <summary>Vision and prefill bytes, both directions, per row.</summary>
    public double PrefillBytesPerRow => PrefillRows == 0 ? 0 : (double)(VisionHostToDevice + VisionDeviceToHost + PrefillHostToDevice + PrefillDeviceToHost) / PrefillRows;

    /// <summary>Decode bytes, both directions, per row and step (over every decode step of the call).</summary>
    public double DecodeBytesPerRowStep
    {
        get
        {
            long bytes = 0, rowSteps = 0;
            foreach (var s in Steps)
            {
                bytes += s.HostToDevice + s.DeviceToHost;
                rowSteps += s.Rows;
            }

            return rowSteps == 0 ? 0 : (double)bytes / rowSteps;
        }
    }

    /// <summary>Largest bytes per row of any single decode step, both directions.</summary>
    public double DecodeMaxBytesPerRowStep => Steps.Count == 0 ? 0 : Steps.Max(s => (double)(s.HostToDevice + s.DeviceToHost) / s.Rows);

    internal List<DecodeStepTransfer> Steps { get; } = [];
}

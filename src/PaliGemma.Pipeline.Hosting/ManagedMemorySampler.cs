namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// Samples the managed heap size on a background timer and keeps the peak, so benchmarks can report peak
/// managed memory without a profiler. Native (ONNX Runtime) memory is not included by design: it is what the
/// model needs, while the managed peak shows whether we copy tensors onto the GC heap. Public here, in the library
/// every host references, so that <c>pgpipe bench inference</c> and the pipeline benchmark under tools/ share one copy.
/// </summary>
public sealed class ManagedMemorySampler : IDisposable
{
    private readonly Timer _timer;
    private long _peak;

    /// <summary>Starts sampling at once, then every <paramref name="periodMs"/> milliseconds until disposed.</summary>
    public ManagedMemorySampler(int periodMs = 5)
    {
        _peak = GC.GetTotalMemory(false);
        _timer = new Timer(_ => Sample(), null, 0, periodMs);
    }

    /// <summary>Largest managed heap size seen, in bytes.</summary>
    public long Peak
    {
        get
        {
            Sample();
            return Interlocked.Read(ref _peak);
        }
    }

    /// <summary>Stops the timer; <see cref="Peak"/> still answers afterwards.</summary>
    public void Dispose() => _timer.Dispose();

    private void Sample()
    {
        var now = GC.GetTotalMemory(false);
        long seen;
        do
        {
            seen = Interlocked.Read(ref _peak);
            if (now <= seen)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _peak, now, seen) != seen);
    }
}

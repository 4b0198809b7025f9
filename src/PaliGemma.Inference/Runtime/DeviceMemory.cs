using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace PaliGemma.Inference.Runtime;

/// <summary>Where a tensor lives as far as transfers are concerned: produced or read by our code, or kept by the provider.</summary>
internal enum MemorySide
{
    /// <summary>Host memory our code writes or reads (CPU, pinned when the provider offers it).</summary>
    Host,
    /// <summary>The execution provider's own memory (CUDA memory with CUDA; the CPU allocator with the CPU provider).</summary>
    Device,
}

/// <summary>
/// The execution provider's memory and the host memory that exchanges data with it, with an allocator for each.
/// Generation state (KV cache, embeddings, positions, image features) is bound to <see cref="StateSide"/>: the
/// device, or the host when <see cref="InferenceOptions.HostBoundState"/> asks for the old host-resident data flow.
/// </summary>
internal sealed class DeviceMemory : IDisposable
{
    private readonly bool _ownsDevice;
    private readonly bool _ownsHost;

    private DeviceMemory(OrtMemoryInfo deviceInfo, OrtAllocator deviceAllocator, bool ownsDevice, OrtMemoryInfo hostInfo, OrtAllocator hostAllocator,
        bool ownsHost, bool hostPinned, bool stateOnHost)
    {
        DeviceInfo = deviceInfo;
        DeviceAllocator = deviceAllocator;
        _ownsDevice = ownsDevice;
        HostInfo = hostInfo;
        HostAllocator = hostAllocator;
        _ownsHost = ownsHost;
        HostIsPinned = hostPinned;
        StateSide = stateOnHost ? MemorySide.Host : MemorySide.Device;
    }

    public OrtMemoryInfo DeviceInfo { get; }

    public OrtAllocator DeviceAllocator { get; }

    public OrtMemoryInfo HostInfo { get; }

    public OrtAllocator HostAllocator { get; }

    /// <summary>True when host buffers are page-locked (CUDA's pinned allocator), so copies to the device are direct DMA.</summary>
    public bool HostIsPinned { get; }

    /// <summary>Where generation state is bound.</summary>
    public MemorySide StateSide { get; }

    public OrtMemoryInfo Info(MemorySide side) => side == MemorySide.Host ? HostInfo : DeviceInfo;

    public OrtAllocator Allocator(MemorySide side) => side == MemorySide.Host ? HostAllocator : DeviceAllocator;

    /// <summary>
    /// Memory for sessions on <paramref name="device"/>. With CUDA, the device allocator and the pinned host allocator
    /// are the session's own (<paramref name="session"/> must run on CUDA); without a pinned allocator, host buffers
    /// come from the CPU allocator.
    /// </summary>
    public static DeviceMemory Create(InferenceSession session, ExecutionDevice device, int deviceId, bool stateOnHost, ILogger logger)
    {
        if (device != ExecutionDevice.Cuda)
        {
            // The CPU provider's memory is host memory; the sides still differ in what they mean for transfers.
            return new DeviceMemory(OrtMemoryInfo.DefaultInstance, OrtAllocator.DefaultInstance, false, OrtMemoryInfo.DefaultInstance, OrtAllocator.DefaultInstance,
                false, false, stateOnHost);
        }

        var cudaInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.Default);
        OrtAllocator? cuda = null;
        try
        {
            cuda = new OrtAllocator(session, cudaInfo);
            OrtMemoryInfo? pinnedInfo = null;
            try
            {
                pinnedInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.CpuOutput);
                var pinned = new OrtAllocator(session, pinnedInfo);
                return new DeviceMemory(cudaInfo, cuda, true, pinnedInfo, pinned, true, true, stateOnHost);
            }
            catch (OnnxRuntimeException ex)
            {
                pinnedInfo?.Dispose();
                var reason = ex.Message.Split('\n')[0];
                InferenceLog.PinnedMemoryUnavailable(logger, reason);
                return new DeviceMemory(cudaInfo, cuda, true, OrtMemoryInfo.DefaultInstance, OrtAllocator.DefaultInstance, false, false, stateOnHost);
            }
        }
        catch
        {
            cuda?.Dispose();
            cudaInfo.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_ownsHost)
        {
            HostAllocator.Dispose();
            HostInfo.Dispose();
        }

        if (_ownsDevice)
        {
            DeviceAllocator.Dispose();
            DeviceInfo.Dispose();
        }
    }

    /// <summary>The address of a tensor's data (never dereferenced here: it may be device memory).</summary>
    public static unsafe IntPtr DataPointer(OrtValue value) =>
        (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(value.GetTensorMutableRawData()));
}

/// <summary>
/// A host buffer allocated once (pinned when the provider offers it) and reused: tensors are views of its start, so
/// the ids, positions and chosen tokens that must cross do so without a managed allocation per step. Grows only
/// when a larger batch asks for more.
/// </summary>
internal sealed class HostBuffer(DeviceMemory memory) : IDisposable
{
    private OrtValue? _storage;
    private IntPtr _pointer;
    private long _capacity;

    /// <summary>The first <paramref name="count"/> elements as a span, growing the buffer when needed (contents are then lost).</summary>
    public unsafe Span<T> Span<T>(long count)
        where T : unmanaged
    {
        Ensure(count * sizeof(T));
        return new Span<T>((void*)_pointer, checked((int)count));
    }

    /// <summary>A tensor view of the buffer's start (the caller disposes the view; the buffer stays).</summary>
    public OrtValue View(TensorElementType type, long[] shape)
    {
        long bytes = TensorOps.ElementSize(type);
        foreach (var d in shape)
        {
            bytes *= d;
        }

        Ensure(bytes);
        return OrtValue.CreateTensorValueWithData(memory.HostInfo, type, shape, _pointer, bytes);
    }

    private void Ensure(long bytes)
    {
        if (bytes <= _capacity)
        {
            return;
        }

        var capacity = Math.Max(bytes, Math.Max(64, _capacity * 2));
        var storage = OrtValue.CreateAllocatedTensorValue(memory.HostAllocator, TensorElementType.UInt8, [capacity]);
        _storage?.Dispose();
        _storage = storage;
        _pointer = DeviceMemory.DataPointer(storage);
        _capacity = capacity;
    }

    public void Dispose()
    {
        _storage?.Dispose();
        _storage = null;
        _capacity = 0;
    }
}

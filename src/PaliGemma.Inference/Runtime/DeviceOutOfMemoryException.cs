using System.Globalization;
using System.Text.RegularExpressions;

namespace PaliGemma.Inference.Runtime;

/// <summary>
/// The execution provider could not allocate what a batch needs. The message names the batch size, the memory
/// ONNX Runtime asked for and the batch's KV cache at its longest; the remedy is a smaller
/// <see cref="InferenceOptions.MaxBatchSize"/> (there is no silent retry with a smaller batch).
/// </summary>
public sealed partial class DeviceOutOfMemoryException : InvalidOperationException
{
    /// <summary>Creates the exception for a failed allocation in <paramref name="stage"/>.</summary>
    public DeviceOutOfMemoryException(string device, string stage, int batchSize, int positions, long kvBytesPerPosition, Exception inner)
        : base(Describe(device, stage, batchSize, positions, kvBytesPerPosition, inner), inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Device = device;
        BatchSize = batchSize;
        RequestedBytes = Requested(inner.Message);
        KvCacheBytes = (long)batchSize * positions * kvBytesPerPosition;
    }

    /// <summary>"cpu" or "cuda:N".</summary>
    public string Device { get; } = "";

    /// <summary>Rows in the batch that failed.</summary>
    public int BatchSize { get; }

    /// <summary>The allocation ONNX Runtime reported as failing, when its message says.</summary>
    public long? RequestedBytes { get; }

    /// <summary>The batch's KV cache at its longest (every row at its prefix plus its token limit).</summary>
    public long KvCacheBytes { get; }

    /// <summary>True when an ONNX Runtime error's message reports a failed memory allocation (BFC arena, CUDA, cuBLAS or cuDNN).</summary>
    public static bool IsOutOfMemory(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return OutOfMemoryPattern().IsMatch(exception.Message);
    }

    private static long? Requested(string message) =>
        RequestedPattern().Match(message) is { Success: true } m && long.TryParse(m.Groups[1].Value, CultureInfo.InvariantCulture, out var bytes) ? bytes : null;

    private static string Describe(string device, string stage, int batchSize, int positions, long kvBytesPerPosition, Exception inner)
    {
        var asked = Requested(inner.Message) is { } bytes ? $"{Size(bytes)} ({bytes} bytes)" : "an allocation of unreported size";
        var kv = (long)batchSize * positions * kvBytesPerPosition;
        return string.Create(CultureInfo.InvariantCulture,
            $"{device} ran out of memory in {stage} for a batch of {batchSize} row(s): ONNX Runtime asked for {asked}. At its longest this batch's KV cache " +
            $"alone needs {Size(kv)} ({Size((long)positions * kvBytesPerPosition)} per row at {positions} positions). Lower Inference:MaxBatchSize " +
            $"(--batch-size); the README's GPU section gives sizes per GPU. ONNX Runtime said: {inner.Message.Split('\n')[0]}");
    }

    private static string Size(long bytes) => bytes >= 1L << 30
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.00} GiB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB");

    [GeneratedRegex(@"Failed to allocate memory|out of memory|OUT_OF_MEMORY|ALLOC_FAILED|BFCArena|Available memory of \d+ is smaller than requested", RegexOptions.IgnoreCase)]
    private static partial Regex OutOfMemoryPattern();

    [GeneratedRegex(@"(?:buffer of size|requested bytes of|requested size of|size of) (\d+)")]
    private static partial Regex RequestedPattern();
}

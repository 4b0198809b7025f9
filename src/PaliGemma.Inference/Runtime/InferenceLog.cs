using Microsoft.Extensions.Logging;

namespace PaliGemma.Inference.Runtime;

/// <summary>Source-generated log messages of the inference runtime.</summary>
internal static partial class InferenceLog
{
    [LoggerMessage(EventId = 1001, EventName = "CudaUnavailable", Level = LogLevel.Information,
        Message = "CUDA execution provider unavailable, falling back to CPU: {Reason}")]
    public static partial void CudaUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 1002, EventName = "SessionLoaded", Level = LogLevel.Information,
        Message = "Loaded {Graph} on {Device} in {ElapsedMs} ms")]
    public static partial void SessionLoaded(ILogger logger, string graph, string device, long elapsedMs);

    [LoggerMessage(EventId = 1003, EventName = "DecoderRewritten", Level = LogLevel.Information,
        Message = "Decoder prefill limited to the last position: {Description}")]
    public static partial void DecoderRewritten(ILogger logger, string description);

    [LoggerMessage(EventId = 1004, EventName = "DecoderNotRewritten", Level = LogLevel.Warning,
        Message = "Decoder left as exported; prefill computes logits for every position: {Description}")]
    public static partial void DecoderNotRewritten(ILogger logger, string description);

    [LoggerMessage(EventId = 1005, EventName = "ModelReady", Level = LogLevel.Information,
        Message = "Model {Model} ready: {Layers} layers, {KvHeads} KV heads x {HeadDim}, hidden {Hidden}, image {Height}x{Width} -> {ImageTokens} tokens, vocab {Vocab}, device {Device}")]
    public static partial void ModelReady(ILogger logger, string model, int layers, int kvHeads, int headDim, int hidden, int height, int width, int imageTokens, int vocab, string device);

    [LoggerMessage(EventId = 1006, EventName = "MaskDecoderReady", Level = LogLevel.Information,
        Message = "Mask decoder {Path} ready: codebook {CodebookSize}, masks {MaskSize}x{MaskSize}")]
    public static partial void MaskDecoderReady(ILogger logger, string path, int codebookSize, int maskSize);

    [LoggerMessage(EventId = 1007, EventName = "PinnedMemoryUnavailable", Level = LogLevel.Information,
        Message = "No pinned host allocator on the CUDA provider; host buffers use ordinary CPU memory: {Reason}")]
    public static partial void PinnedMemoryUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 1008, EventName = "GreedyHeadAdded", Level = LogLevel.Information,
        Message = "Decoder returns B token ids per step (greedy choice on the device): {Description}")]
    public static partial void GreedyHeadAdded(ILogger logger, string description);

    [LoggerMessage(EventId = 1009, EventName = "GreedyHeadNotAdded", Level = LogLevel.Warning,
        Message = "Decoder cannot return token ids; each step's logits are read on the host instead: {Description}")]
    public static partial void GreedyHeadNotAdded(ILogger logger, string description);
}

using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Worker;

/// <summary>Source-generated log messages of the worker.</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(EventId = 2001, EventName = "ModelLoading", Level = LogLevel.Information, Message = "Loading model {Model} from {Folder}")]
    public static partial void ModelLoading(ILogger logger, string model, string folder);

    [LoggerMessage(EventId = 2002, EventName = "ModelLoaded", Level = LogLevel.Information, Message = "Model {Model} loaded on {Device}; consuming queue {Queue}")]
    public static partial void ModelLoaded(ILogger logger, string model, string device, string queue);

    [LoggerMessage(EventId = 2003, EventName = "ModelLoadFailed", Level = LogLevel.Critical, Message = "Model {Model} failed to load")]
    public static partial void ModelLoadFailed(ILogger logger, string model, Exception exception);

    [LoggerMessage(EventId = 2004, EventName = "BatchDone", Level = LogLevel.Information,
        Message = "Batch of {Images} images: {Results} results, {Failures} failures, {Skipped} combinations already done, {ElapsedMs} ms")]
    public static partial void BatchDone(ILogger logger, int images, int results, int failures, int skipped, long elapsedMs);

    [LoggerMessage(EventId = 2005, EventName = "ImageFailed", Level = LogLevel.Warning, Message = "Image {Uri} (run {RunId}) failed: {Reason}: {Message}")]
    public static partial void ImageFailed(ILogger logger, string uri, Guid runId, string reason, string message);

    [LoggerMessage(EventId = 2006, EventName = "BatchTimedOut", Level = LogLevel.Error,
        Message = "Batch of {Images} images abandoned after {ElapsedMs} ms, past Worker:MaxBatchDurationMs ({LimitMs} ms); its combinations are recorded as 'timeout' failures for the next pass")]
    public static partial void BatchTimedOut(ILogger logger, int images, long elapsedMs, int limitMs);

    [LoggerMessage(EventId = 2050, EventName = "InvalidMessage", Level = LogLevel.Error, Message = "Message {MessageId} refused to the error queue: {Problem}")]
    public static partial void InvalidMessage(ILogger logger, string messageId, string problem);

    [LoggerMessage(EventId = 2051, EventName = "MasksUnavailable", Level = LogLevel.Warning,
        Message = "{Rows} segment results in this batch are stored with boxes only: {Note}")]
    public static partial void MasksUnavailable(ILogger logger, int rows, string note);
}

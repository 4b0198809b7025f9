using Microsoft.Extensions.Logging;

namespace PaliGemma.Hub;

/// <summary>Source-generated log messages of the Hub client.</summary>
internal static partial class HubLog
{
    [LoggerMessage(EventId = 6001, EventName = "HubRetrying", Level = LogLevel.Warning, Message = "{What}: {Reason}; retrying in {Seconds:0.#} s (attempt {Attempt} of {MaxAttempts})")]
    public static partial void Retrying(ILogger logger, string what, string reason, double seconds, int attempt, int maxAttempts);

    [LoggerMessage(EventId = 6002, EventName = "HubRelativeRedirect", Level = LogLevel.Information, Message = "Repo {Repo} answered with a relative redirect to {Path} (renamed repo)")]
    public static partial void RelativeRedirect(ILogger logger, string repo, string path);

    [LoggerMessage(EventId = 6003, EventName = "HubResuming", Level = LogLevel.Warning, Message = "{Path}: download interrupted at {Offset} of {Size} bytes ({Reason}); resuming with a fresh URL")]
    public static partial void Resuming(ILogger logger, string path, long offset, long size, string reason);

    [LoggerMessage(EventId = 6004, EventName = "HubWaitingForLock", Level = LogLevel.Information, Message = "Waiting for {LockPath}: another process is downloading the same file")]
    public static partial void WaitingForLock(ILogger logger, string lockPath);

    [LoggerMessage(EventId = 6005, EventName = "HubOfflineFallback", Level = LogLevel.Warning, Message = "Hub unreachable ({Reason}); using the cached snapshot {Commit} of {Repo}")]
    public static partial void OfflineFallback(ILogger logger, string reason, string repo, string commit);

    [LoggerMessage(EventId = 6006, EventName = "HubIntegrityFailure", Level = LogLevel.Error, Message = "{Path}: {Message}")]
    public static partial void IntegrityFailure(ILogger logger, string path, string message);
}

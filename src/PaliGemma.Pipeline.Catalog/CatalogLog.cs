using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>Source-generated log messages for catalog listing and reading.</summary>
internal static partial class CatalogLog
{
    [LoggerMessage(EventId = 5001, EventName = "S3PageListed", Level = LogLevel.Debug,
        Message = "Listed page {Page} of s3://{Bucket}/{Prefix}: {Listed} keys so far, {Matched} matched")]
    public static partial void S3PageListed(ILogger logger, string bucket, string prefix, int page, long listed, long matched);

    // Every tenth page at Information, so a listing of millions of keys shows progress without flooding the log.
    [LoggerMessage(EventId = 5002, EventName = "S3ListingProgress", Level = LogLevel.Information,
        Message = "Listing s3://{Bucket}/{Prefix}: {Listed} keys so far ({Page} pages), {Matched} matched")]
    public static partial void S3ListingProgress(ILogger logger, string bucket, string prefix, int page, long listed, long matched);

    [LoggerMessage(EventId = 5003, EventName = "S3ListingCompleted", Level = LogLevel.Information,
        Message = "Listed s3://{Bucket}/{Prefix}: {Listed} keys in {Page} pages, {Matched} matched")]
    public static partial void S3ListingCompleted(ILogger logger, string bucket, string prefix, int page, long listed, long matched);

    [LoggerMessage(EventId = 5004, EventName = "S3ListThrottled", Level = LogLevel.Warning,
        Message = "Listing s3://{Bucket}/{Prefix} was throttled ({Code}); retry {Attempt} of {Limit} in {DelayMs} ms")]
    public static partial void S3ListThrottled(ILogger logger, string bucket, string prefix, string code, int attempt, int limit, long delayMs);

    [LoggerMessage(EventId = 5011, EventName = "LocalListingCompleted", Level = LogLevel.Information,
        Message = "Listed {Root}: {Listed} files seen, {Matched} matched; {Hashed} opened and hashed, {Reused} unchanged (hash cache)")]
    public static partial void LocalListingCompleted(ILogger logger, string root, long listed, long matched, long hashed, long reused);

    [LoggerMessage(EventId = 5015, EventName = "LocalHashCacheUnavailable", Level = LogLevel.Warning,
        Message = "The local hash cache {Path} cannot be used ({Reason}); every listed file is hashed")]
    public static partial void LocalHashCacheUnavailable(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 5012, EventName = "LocalFileVanished", Level = LogLevel.Debug,
        Message = "File {Path} disappeared while the folder was being listed; skipped")]
    public static partial void LocalFileVanished(ILogger logger, string path);

    [LoggerMessage(EventId = 5013, EventName = "LocalDirectoryLinkSkipped", Level = LogLevel.Debug,
        Message = "Directory {Path} is a symbolic link; not followed, to rule out cycles")]
    public static partial void LocalDirectoryLinkSkipped(ILogger logger, string path);

    [LoggerMessage(EventId = 5014, EventName = "LocalFileLinkSkipped", Level = LogLevel.Warning,
        Message = "File {Path} is a symbolic link and is skipped: {Reason}; a local catalog reads only files inside its folder")]
    public static partial void LocalFileLinkSkipped(ILogger logger, string path, string reason);
}

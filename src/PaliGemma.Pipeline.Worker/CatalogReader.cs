using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Reads the object a job names: one catalog source per S3 bucket (created on first use and cached), and one for
/// the configured local root. Transient storage errors (server unreachable, 5xx, throttling, timeouts) are retried
/// with the <see cref="RetryPolicyOptions.WorkerFetch"/> backoff, so a storage restart costs a pause, not a failed batch.
/// </summary>
public sealed partial class CatalogReader(CatalogSourceFactory factory, IOptions<WorkerOptions> options, IOptionsMonitor<RetryPolicyOptions> retry,
    ILogger<CatalogReader> logger)
{
    private readonly ConcurrentDictionary<string, ICatalogSource> _buckets = new(StringComparer.Ordinal);
    private ICatalogSource? _local;

    /// <summary>Reads <paramref name="uri"/> if it is still the version <paramref name="etag"/>, retrying transient storage errors.</summary>
    public Task<byte[]> ReadAsync(string uri, string etag, CancellationToken cancellationToken) =>
        WithRetryAsync(uri, source => source.ReadAsync(uri, etag, cancellationToken), cancellationToken);

    /// <summary>Reads the current version of <paramref name="uri"/> with its ETag, retrying transient storage errors.</summary>
    public Task<CatalogContent> ReadCurrentAsync(string uri, CancellationToken cancellationToken) =>
        WithRetryAsync(uri, source => source.ReadCurrentAsync(uri, cancellationToken), cancellationToken);

    /// <summary>
    /// Copies <paramref name="uri"/> at version <paramref name="etag"/> into the file <paramref name="path"/>, which each
    /// attempt writes from the start; transient storage errors are retried like <see cref="ReadAsync"/>.
    /// </summary>
    public Task<long> DownloadAsync(string uri, string etag, string path, long maxBytes, string limitName, CancellationToken cancellationToken) =>
        WithRetryAsync(uri, async source =>
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await using (file.ConfigureAwait(false))
            {
                return await source.CopyToAsync(uri, etag, file, maxBytes, limitName, cancellationToken).ConfigureAwait(false);
            }
        }, cancellationToken);

    private async Task<T> WithRetryAsync<T>(string uri, Func<ICatalogSource, Task<T>> read, CancellationToken cancellationToken)
    {
        var delays = retry.Get(RetryPolicyOptions.WorkerFetch).Delays();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await read(SourceFor(uri)).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < delays.Count && IsTransient(ex, cancellationToken))
            {
                FetchRetrying(logger, uri, ex.GetType().Name, ex.Message, attempt + 1, delays.Count, (long)delays[attempt].TotalMilliseconds);
                await Task.Delay(delays[attempt], cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// True for storage errors that a later attempt can get past. Answers about the object itself (missing, changed,
    /// too large, 4xx) are final and are recorded against the image instead.
    /// </summary>
    internal static bool IsTransient(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,
        CatalogObjectException or CatalogUriException => false,
        AmazonServiceException { StatusCode: var status } => (int)status == 0 || (int)status >= 500
                                                             || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests,
        HttpRequestException or SocketException or IOException or TimeoutException or OperationCanceledException or AmazonClientException => true,
        _ => false,
    };

    private ICatalogSource SourceFor(string uri)
    {
        if (CatalogUri.IsS3(uri))
        {
            if (!CatalogUri.TryParseS3(uri, out var bucket, out _))
            {
                throw new CatalogUriException(uri, $"'{uri}' has no bucket.");
            }

            return _buckets.GetOrAdd(bucket, b => factory.Create("s3://" + b));
        }

        var root = options.Value.LocalRoot;
        if (string.IsNullOrWhiteSpace(root))
        {
            throw new CatalogUriException(uri, $"'{uri}' is a local path, but Worker:LocalRoot is not set, so this worker reads no local files.");
        }

        return _local ??= factory.Create(root);
    }

    [LoggerMessage(EventId = 2101, EventName = "FetchRetrying", Level = LogLevel.Warning,
        Message = "Fetching {Uri} failed with {Error}: {Message}; retry {Attempt} of {Limit} in {DelayMs} ms")]
    private static partial void FetchRetrying(ILogger logger, string uri, string error, string message, int attempt, int limit, long delayMs);
}

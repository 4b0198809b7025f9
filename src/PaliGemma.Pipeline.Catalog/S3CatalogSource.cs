using System.Net;
using System.Runtime.CompilerServices;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// A catalog in an S3 bucket, optionally below a prefix. Listing streams ListObjectsV2 pages (one stream, or one per
/// top-level prefix through <see cref="IPartitionedCatalogSource"/>); SlowDown, 503 and 429 answers are retried with
/// jittered exponential backoff. Reading checks the ETag so a worker never processes a different version than the one
/// that was listed.
/// </summary>
public sealed class S3CatalogSource : IPartitionedCatalogSource
{
    private readonly IAmazonS3 _client;
    private readonly CatalogOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates a source over <c>s3://<paramref name="bucket"/>/<paramref name="rootPrefix"/></c>.</summary>
    /// <param name="client">The S3 client; not owned (not disposed) by the source.</param>
    /// <param name="bucket">The bucket name.</param>
    /// <param name="rootPrefix">
    /// Folder within the bucket; a missing trailing '/' is added, so <c>photos</c> means <c>photos/</c> and never
    /// <c>photos2/</c>. Use <see cref="CatalogFilter.Prefix"/> for partial-name prefixes.
    /// </param>
    /// <param name="options">Limits and page size.</param>
    /// <param name="logger">Receives page progress; null for none.</param>
    public S3CatalogSource(IAmazonS3 client, string bucket, string rootPrefix, CatalogOptions options, ILogger<S3CatalogSource>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(bucket);
        ArgumentNullException.ThrowIfNull(rootPrefix);
        ArgumentNullException.ThrowIfNull(options);
        _client = client;
        Bucket = bucket;
        RootPrefix = rootPrefix.Length == 0 || rootPrefix.EndsWith('/') ? rootPrefix : rootPrefix + "/";
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The bucket name.</summary>
    public string Bucket { get; }

    /// <summary>The folder within the bucket ("" or ending in '/'); keys are relative to it.</summary>
    public string RootPrefix { get; }

    /// <inheritdoc />
    public string Root => CatalogUri.FormatS3(Bucket, RootPrefix);

    /// <inheritdoc />
    public IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, CancellationToken ct) => ListAsync(filter, null, ct);

    /// <inheritdoc />
    public IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, string? startAfterKey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        filter.Validate();
        var effectivePrefix = filter.EffectivePrefix();
        return effectivePrefix is null ? AsyncEnumerable.Empty<CatalogObject>() : ListCoreAsync(filter, effectivePrefix, null, startAfterKey, ct);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<CatalogPartition> ListPartitionsAsync(CatalogFilter filter, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        filter.Validate();
        if (filter.EffectivePrefix() is not { } effectivePrefix)
        {
            yield break;
        }

        var level = effectivePrefix;
        while (true)
        {
            var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = RootPrefix + level, Delimiter = "/", MaxKeys = _options.ListPageSize };
            var response = await ListPageAsync(request, ct).ConfigureAwait(false);
            var prefixes = response.CommonPrefixes ?? [];
            if ((response.S3Objects?.Count ?? 0) == 0 && prefixes.Count == 0)
            {
                // Nothing at this level by delimiter. Either it is empty, or the server mishandles delimiters (s3rver
                // 3.7 leaves out a folder that holds only sub-folders): one plain listing of the level covers both.
                yield return new CatalogPartition(level, ObjectsOnly: false);
                yield break;
            }

            // A level that holds one folder and nothing else (a bucket whose every key starts with "photos/") would give
            // one partition; its sub-folders are the useful split.
            if (response.IsTruncated != true && (response.S3Objects?.Count ?? 0) == 0 && prefixes.Count == 1
                && prefixes[0].StartsWith(RootPrefix + level, StringComparison.Ordinal) && prefixes[0].Length > RootPrefix.Length + level.Length)
            {
                level = prefixes[0][RootPrefix.Length..];
                continue;
            }

            // The level itself first: its objects sort among the folders, but as a partition of their own they only need
            // to be listed once, by a delimiter listing that skips the folders.
            yield return new CatalogPartition(level, ObjectsOnly: true);
            while (true)
            {
                foreach (var prefix in prefixes)
                {
                    if (prefix.StartsWith(RootPrefix, StringComparison.Ordinal))
                    {
                        yield return new CatalogPartition(prefix[RootPrefix.Length..], ObjectsOnly: false);
                    }
                }

                if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken))
                {
                    yield break;
                }

                request.ContinuationToken = response.NextContinuationToken;
                response = await ListPageAsync(request, ct).ConfigureAwait(false);
                prefixes = response.CommonPrefixes ?? [];
            }
        }
    }

    /// <inheritdoc />
    public IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, CatalogPartition partition, string? startAfterKey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(partition);
        filter.Validate();
        return ListCoreAsync(filter, partition.Prefix, partition.ObjectsOnly ? "/" : null, startAfterKey, ct);
    }

    private async IAsyncEnumerable<CatalogObject> ListCoreAsync(CatalogFilter filter, string prefix, string? delimiter, string? startAfterKey,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var request = new ListObjectsV2Request
        {
            BucketName = Bucket,
            Prefix = RootPrefix + prefix,
            Delimiter = delimiter,
            MaxKeys = _options.ListPageSize,
            // StartAfter is honoured only on the first request; continuation tokens take over after that.
            StartAfter = string.IsNullOrEmpty(startAfterKey) ? null : RootPrefix + startAfterKey,
        };

        int page = 0;
        long listed = 0, matched = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var response = await ListPageAsync(request, ct).ConfigureAwait(false);
            page++;
            // SDK v4 leaves collections null rather than empty when a page has no entries.
            foreach (var s3Object in response.S3Objects ?? [])
            {
                listed++;
                // Zero-byte "folder/" markers created by consoles are not objects a catalog can process.
                if (s3Object.Key.EndsWith('/') || !s3Object.Key.StartsWith(RootPrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var key = s3Object.Key[RootPrefix.Length..];
                var size = s3Object.Size ?? 0;
                if (!filter.IsMatch(key, size))
                {
                    continue;
                }

                matched++;
                yield return new CatalogObject(
                    CatalogUri.FormatS3(Bucket, s3Object.Key),
                    key,
                    NormalizeETag(s3Object.ETag),
                    size,
                    ToTimestamp(s3Object.LastModified));
            }

            if (page % 10 == 0)
            {
                CatalogLog.S3ListingProgress(_logger, Bucket, request.Prefix, page, listed, matched);
            }
            else
            {
                CatalogLog.S3PageListed(_logger, Bucket, request.Prefix, page, listed, matched);
            }

            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken))
            {
                break;
            }

            request.ContinuationToken = response.NextContinuationToken;
            request.StartAfter = null;
        }

        CatalogLog.S3ListingCompleted(_logger, Bucket, request.Prefix, page, listed, matched);
    }

    /// <summary>
    /// One ListObjectsV2 call. Throttling (SlowDown, 503, 429) is retried with full-jitter exponential backoff, from
    /// <see cref="CatalogOptions.ListRetryInitialDelayMs"/> doubling to 30 s, <see cref="CatalogOptions.ListRetryLimit"/>
    /// times: a store that asks parallel listers to slow down gets slower requests, not a failed run.
    /// </summary>
    private async Task<ListObjectsV2Response> ListPageAsync(ListObjectsV2Request request, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await _client.ListObjectsV2Async(request, ct).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                throw new InvalidOperationException($"Cannot list {Root}: the bucket '{Bucket}' does not exist ({e.ErrorCode}).", e);
            }
            catch (AmazonS3Exception e) when (IsThrottling(e) && attempt < _options.ListRetryLimit)
            {
                var ceiling = Math.Min(30_000, _options.ListRetryInitialDelayMs * Math.Pow(2, attempt));
                var delay = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ceiling);
                CatalogLog.S3ListThrottled(_logger, Bucket, request.Prefix, e.ErrorCode ?? ((int)e.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    attempt + 1, _options.ListRetryLimit, (long)delay.TotalMilliseconds);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>True for the answers with which S3 and compatible stores ask a client to slow down.</summary>
    internal static bool IsThrottling(AmazonS3Exception e) =>
        e.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests
        || e.ErrorCode is "SlowDown" or "Throttling" or "ThrottlingException" or "RequestLimitExceeded" or "TooManyRequests";

    /// <inheritdoc />
    public async Task<byte[]> ReadAsync(string uri, string expectedETag, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedETag);
        return (await ReadCoreAsync(uri, expectedETag, ct).ConfigureAwait(false)).Bytes;
    }

    /// <inheritdoc />
    public Task<CatalogContent> ReadCurrentAsync(string uri, CancellationToken ct) => ReadCoreAsync(uri, null, ct);

    private async Task<CatalogContent> ReadCoreAsync(string uri, string? expectedETag, CancellationToken ct)
    {
        var (response, actual) = await GetCheckedAsync(uri, expectedETag, ct).ConfigureAwait(false);
        using (response)
        {
            var length = response.ContentLength;
            if (length > _options.MaxObjectBytes)
            {
                throw new CatalogObjectTooLargeException(uri, length, _options.MaxObjectBytes);
            }

            if (length < 0)
            {
                throw new InvalidDataException($"The S3 server sent '{uri}' without a Content-Length; cannot bound the read.");
            }

            // Filled completely by ReadExactlyAsync (or it throws): zeroing ~100 KB per image first was measurable
            // (memset was 2 % of a worker's CPU in the pipeline profile).
            var buffer = GC.AllocateUninitializedArray<byte>((int)length);
            await Body(response).ReadExactlyAsync(buffer, ct).ConfigureAwait(false);
            return new CatalogContent(buffer, actual);
        }
    }

    /// <inheritdoc />
    public async Task<long> CopyToAsync(string uri, string expectedETag, Stream destination, long maxBytes, string limitName, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedETag);
        ArgumentNullException.ThrowIfNull(destination);
        var (response, _) = await GetCheckedAsync(uri, expectedETag, ct).ConfigureAwait(false);
        using (response)
        {
            var length = response.ContentLength;
            if (length > maxBytes)
            {
                throw new CatalogObjectTooLargeException(uri, length, maxBytes, limitName);
            }

            if (length < 0)
            {
                throw new InvalidDataException($"The S3 server sent '{uri}' without a Content-Length; cannot bound the read.");
            }

            await Body(response).CopyToAsync(destination, ct).ConfigureAwait(false);
            return length;
        }
    }

    /// <summary>GETs the object and checks it is still <paramref name="expectedETag"/> (any version when null).</summary>
    private async Task<(GetObjectResponse Response, string ETag)> GetCheckedAsync(string uri, string? expectedETag, CancellationToken ct)
    {
        var (bucket, key) = CatalogUri.ParseS3(uri);
        if (!string.Equals(bucket, Bucket, StringComparison.Ordinal) || !key.StartsWith(RootPrefix, StringComparison.Ordinal))
        {
            throw new CatalogUriException(uri, $"'{uri}' is not inside this catalog ({Root}).");
        }

        var expected = expectedETag is null ? null : NormalizeETag(expectedETag);
        var request = new GetObjectRequest
        {
            BucketName = bucket,
            Key = key,
            // S3 and MinIO answer 412 when the object changed. s3rver ignores If-Match, so the response ETag is
            // compared below as well.
            EtagToMatch = expected is null ? null : "\"" + expected + "\"",
        };

        GetObjectResponse response;
        try
        {
            response = await _client.GetObjectAsync(request, ct).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new CatalogObjectMissingException(uri, e);
        }
        catch (AmazonS3Exception e) when (expected is not null && e.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            throw new CatalogObjectChangedException(uri, expected, null, e);
        }

        var actual = NormalizeETag(response.ETag);
        if (expected is not null && !string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
        {
            response.Dispose();
            throw new CatalogObjectChangedException(uri, expected, actual);
        }

        return (response, actual);
    }

    /// <summary>
    /// The response body without the SDK's MD5 check of the bytes against the ETag. That check runs a managed MD5 over
    /// every byte (4.6 % of a worker's CPU in the pipeline profile, about 0.2 ms per 120 KB image) and adds nothing
    /// the read does not already hold: the version is the one listed because the ETag header is compared above, the
    /// length is Content-Length read exactly (a short body throws), and the transport has its own integrity (TLS on
    /// every real store). A body the decoder cannot read still fails as corrupt, never silently.
    /// </summary>
    private static Stream Body(GetObjectResponse response) =>
        response.ResponseStream is Amazon.Runtime.Internal.Util.MD5Stream md5 ? md5.GetNonWrapperBaseStream() : response.ResponseStream;

    // The SDK parses Last-Modified into a DateTime whose Kind varies by version; Unspecified means UTC on the wire.
    private static DateTimeOffset ToTimestamp(DateTime? value) => value switch
    {
        null => DateTimeOffset.MinValue,
        { Kind: DateTimeKind.Unspecified } v => new DateTimeOffset(v, TimeSpan.Zero),
        { } v => new DateTimeOffset(v).ToUniversalTime(),
    };

    /// <summary>Strips the quotes (and a weak-validator prefix) S3 puts around ETags.</summary>
    internal static string NormalizeETag(string? etag)
    {
        if (string.IsNullOrEmpty(etag))
        {
            return string.Empty;
        }

        var value = etag.StartsWith("W/", StringComparison.Ordinal) ? etag[2..] : etag;
        return value.Trim('"');
    }
}

using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Reads the object a job names: one catalog source per S3 bucket (created on first use and cached), and one for
/// the configured local root.
/// </summary>
public sealed class CatalogReader(CatalogSourceFactory factory, IOptions<WorkerOptions> options)
{
    private readonly ConcurrentDictionary<string, ICatalogSource> _buckets = new(StringComparer.Ordinal);
    private ICatalogSource? _local;

    /// <summary>Reads <paramref name="uri"/> if it is still the version <paramref name="etag"/>.</summary>
    public Task<byte[]> ReadAsync(string uri, string etag, CancellationToken cancellationToken)
    {
        if (CatalogUri.IsS3(uri))
        {
            if (!CatalogUri.TryParseS3(uri, out var bucket, out _))
            {
                throw new ArgumentException($"'{uri}' has no bucket.", nameof(uri));
            }

            return _buckets.GetOrAdd(bucket, b => factory.Create("s3://" + b)).ReadAsync(uri, etag, cancellationToken);
        }

        var root = options.Value.LocalRoot;
        if (string.IsNullOrWhiteSpace(root))
        {
            throw new ArgumentException($"'{uri}' is a local path, but Worker:LocalRoot is not set, so this worker reads no local files.", nameof(uri));
        }

        _local ??= factory.Create(root);
        return _local.ReadAsync(uri, etag, cancellationToken);
    }
}

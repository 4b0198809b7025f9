using System.Text.RegularExpressions;
using Amazon.S3;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// Turns a source string into an <see cref="ICatalogSource"/>: <c>s3://bucket/prefix</c> for S3 (or an S3-compatible
/// server configured in <see cref="S3Options"/>), <c>file:///path</c> or a plain path for a local folder.
/// </summary>
public sealed partial class CatalogSourceFactory : IDisposable
{
    private readonly Lazy<IAmazonS3> _client;
    private readonly bool _ownsClient;
    private readonly CatalogOptions _options;
    private readonly ILoggerFactory _loggerFactory;

    /// <summary>
    /// Creates a factory that builds its own S3 client from <paramref name="s3Options"/> on first S3 use (so a run over
    /// a local folder needs no S3 configuration) and disposes it with the factory.
    /// </summary>
    public CatalogSourceFactory(IOptions<S3Options> s3Options, IOptions<CatalogOptions> catalogOptions, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(s3Options);
        ArgumentNullException.ThrowIfNull(catalogOptions);
        _client = new Lazy<IAmazonS3>(() => S3ClientFactory.Create(s3Options.Value), LazyThreadSafetyMode.ExecutionAndPublication);
        _ownsClient = true;
        _options = catalogOptions.Value;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>Creates a factory over an existing S3 client, which the caller keeps owning.</summary>
    public CatalogSourceFactory(IAmazonS3 client, CatalogOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        _client = new Lazy<IAmazonS3>(client);
        _ownsClient = false;
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    /// <summary>Creates the source that <paramref name="source"/> names.</summary>
    /// <param name="source"><c>s3://bucket</c>, <c>s3://bucket/prefix/</c>, <c>file:///abs/folder</c>, or a folder path.</param>
    /// <exception cref="ArgumentException">The string is empty, malformed, or uses an unsupported scheme.</exception>
    /// <exception cref="DirectoryNotFoundException">A local folder does not exist.</exception>
    public ICatalogSource Create(string source)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        if (CatalogUri.IsS3(source))
        {
            if (!CatalogUri.TryParseS3(source, out var bucket, out var prefix))
            {
                throw new ArgumentException($"Catalog source '{source}' has no bucket name; expected s3://bucket or s3://bucket/prefix/.", nameof(source));
            }

            return new S3CatalogSource(_client.Value, bucket, prefix, _options, _loggerFactory.CreateLogger<S3CatalogSource>());
        }

        if (source.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(source, UriKind.Absolute, out var fileUri) || !fileUri.IsFile)
            {
                throw new ArgumentException($"Catalog source '{source}' is not a valid file:// URI; expected file:///absolute/folder.", nameof(source));
            }

            source = fileUri.LocalPath;
        }
        else if (SchemePattern().Match(source) is { Success: true } scheme)
        {
            throw new ArgumentException($"Catalog source '{source}' uses the unsupported scheme '{scheme.Groups[1].Value}'; use s3://bucket/prefix or a local folder path.", nameof(source));
        }

        return new LocalFolderCatalogSource(source, _options, _loggerFactory.CreateLogger<LocalFolderCatalogSource>());
    }

    /// <summary>Disposes the S3 client if this factory created it.</summary>
    public void Dispose()
    {
        if (_ownsClient && _client.IsValueCreated)
        {
            _client.Value.Dispose();
        }
    }

    [GeneratedRegex("^([a-zA-Z][a-zA-Z0-9+.-]+)://")]
    private static partial Regex SchemePattern();
}

using System.Diagnostics.CodeAnalysis;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// Parses <c>s3://bucket/key</c> URIs. The key is everything after the first '/' following the bucket, taken
/// verbatim: it is NOT percent-decoded, so keys containing spaces, '+', '%' or '#' round-trip exactly.
/// </summary>
public static class CatalogUri
{
    /// <summary>The URI scheme prefix for S3 objects.</summary>
    public const string S3Scheme = "s3://";

    /// <summary>True when <paramref name="value"/> starts with <c>s3://</c> (case-insensitive).</summary>
    public static bool IsS3(string value) => value.StartsWith(S3Scheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>Splits an <c>s3://bucket/key</c> URI; the key may be empty (the bucket root).</summary>
    public static bool TryParseS3(string uri, [NotNullWhen(true)] out string? bucket, [NotNullWhen(true)] out string? key)
    {
        bucket = key = null;
        if (uri is null || !IsS3(uri))
        {
            return false;
        }

        var rest = uri[S3Scheme.Length..];
        var slash = rest.IndexOf('/');
        var name = slash < 0 ? rest : rest[..slash];
        if (name.Length == 0 || name.Any(char.IsWhiteSpace))
        {
            return false;
        }

        bucket = name;
        key = slash < 0 ? string.Empty : rest[(slash + 1)..];
        return true;
    }

    /// <summary>Splits an <c>s3://bucket/key</c> URI or throws.</summary>
    /// <exception cref="ArgumentException">The value is not an s3:// URI with a bucket name.</exception>
    public static (string Bucket, string Key) ParseS3(string uri) =>
        TryParseS3(uri, out var bucket, out var key)
            ? (bucket, key)
            : throw new CatalogUriException(uri, $"'{uri}' is not an S3 URI; expected s3://bucket/key.");

    /// <summary>Builds the URI for <paramref name="key"/> in <paramref name="bucket"/> (the key is not encoded).</summary>
    public static string FormatS3(string bucket, string key) => S3Scheme + bucket + "/" + key;
}

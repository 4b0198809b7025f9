namespace PaliGemma.Pipeline.Catalog;

/// <summary>One object (image) found in a catalog.</summary>
/// <param name="Uri">
/// The object's identity exactly as listed: <c>s3://bucket/</c> followed by the raw, un-encoded key, or the absolute
/// local file path. Pass it unchanged to <see cref="ICatalogSource.ReadAsync"/>.
/// </param>
/// <param name="Key">The path relative to the source root, '/'-separated; what filters and resume points refer to.</param>
/// <param name="ETag">
/// Version identity: the S3 ETag without quotes, or for local files the lowercase hex SHA-256 of the content (never the
/// modification time, so a copied or touched file keeps its identity).
/// </param>
/// <param name="Size">Size in bytes.</param>
/// <param name="LastModified">When the object was last written, as reported by the store.</param>
public sealed record CatalogObject(string Uri, string Key, string ETag, long Size, DateTimeOffset LastModified);

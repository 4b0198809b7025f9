namespace PaliGemma.Pipeline.Catalog;

/// <summary>An object's bytes together with the ETag (or content hash) of exactly those bytes.</summary>
/// <param name="Bytes">The whole object.</param>
/// <param name="ETag">The version the bytes belong to, taken from the same response (S3) or hashed from them (local).</param>
public sealed record CatalogContent(byte[] Bytes, string ETag);

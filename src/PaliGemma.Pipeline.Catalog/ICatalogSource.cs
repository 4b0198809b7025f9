namespace PaliGemma.Pipeline.Catalog;

/// <summary>A catalog of images: an S3 bucket (and prefix) or a local folder.</summary>
public interface ICatalogSource
{
    /// <summary>The catalog root, e.g. <c>s3://bucket/photos/</c> or <c>/data/images</c>.</summary>
    string Root { get; }

    /// <summary>
    /// Streams the objects under the root that pass <paramref name="filter"/>, in ascending key order (UTF-8 byte
    /// order, as S3 lists). Memory stays constant however many objects there are.
    /// </summary>
    IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, CancellationToken ct);

    /// <summary>
    /// Like <see cref="ListAsync(CatalogFilter, CancellationToken)"/>, but starts strictly after
    /// <paramref name="startAfterKey"/> (a <see cref="CatalogObject.Key"/> from an earlier listing), so an interrupted
    /// enumeration can resume where it stopped. Null starts from the beginning.
    /// </summary>
    IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, string? startAfterKey, CancellationToken ct);

    /// <summary>
    /// Reads the whole object at <paramref name="uri"/> (a <see cref="CatalogObject.Uri"/> of this source) provided it
    /// is still the version with <paramref name="expectedETag"/>.
    /// </summary>
    /// <exception cref="CatalogObjectMissingException">The object was deleted since it was listed.</exception>
    /// <exception cref="CatalogObjectChangedException">The object was overwritten since it was listed.</exception>
    /// <exception cref="CatalogObjectTooLargeException">The object exceeds <see cref="CatalogOptions.MaxObjectBytes"/>.</exception>
    /// <exception cref="ArgumentException">The URI does not belong to this source.</exception>
    Task<byte[]> ReadAsync(string uri, string expectedETag, CancellationToken ct);

    /// <summary>
    /// Reads the object's current version, whatever it is, with the ETag of those very bytes. The worker uses it when
    /// <see cref="ReadAsync"/> found the listed version overwritten, so that the new version is processed under its
    /// own ETag and never mistaken for the listed one.
    /// </summary>
    /// <exception cref="CatalogObjectMissingException">The object no longer exists.</exception>
    /// <exception cref="CatalogObjectTooLargeException">The object exceeds <see cref="CatalogOptions.MaxObjectBytes"/>.</exception>
    /// <exception cref="ArgumentException">The URI does not belong to this source.</exception>
    Task<CatalogContent> ReadCurrentAsync(string uri, CancellationToken ct);

    /// <summary>
    /// Streams the object at <paramref name="uri"/> into <paramref name="destination"/> without holding it in memory,
    /// provided it is still the version with <paramref name="expectedETag"/>. Documents use it: they can be far larger
    /// than an image, and are read page by page from a local copy.
    /// </summary>
    /// <param name="uri">A <see cref="CatalogObject.Uri"/> of this source.</param>
    /// <param name="expectedETag">The listed version.</param>
    /// <param name="destination">Receives the bytes; on an exception it may hold part of them and must be discarded.</param>
    /// <param name="maxBytes">The largest object accepted.</param>
    /// <param name="limitName">The setting that holds <paramref name="maxBytes"/>, named in the too-large error.</param>
    /// <param name="ct">Cancels the copy.</param>
    /// <returns>The number of bytes copied.</returns>
    /// <exception cref="CatalogObjectMissingException">The object was deleted since it was listed.</exception>
    /// <exception cref="CatalogObjectChangedException">The object was overwritten since it was listed.</exception>
    /// <exception cref="CatalogObjectTooLargeException">The object exceeds <paramref name="maxBytes"/>.</exception>
    Task<long> CopyToAsync(string uri, string expectedETag, Stream destination, long maxBytes, string limitName, CancellationToken ct);
}

namespace PaliGemma.Pipeline.Catalog;

/// <summary>Base for failures that concern one catalog object (as opposed to the store being unreachable).</summary>
public abstract class CatalogObjectException : Exception
{
    /// <summary>Creates the exception for the object at <paramref name="uri"/>.</summary>
    protected CatalogObjectException(string uri, string message, Exception? innerException = null)
        : base(message, innerException) => Uri = uri;

    /// <summary>The object's URI as listed.</summary>
    public string Uri { get; }
}

/// <summary>The object was listed but no longer exists (deleted since the listing).</summary>
public sealed class CatalogObjectMissingException : CatalogObjectException
{
    /// <summary>Creates the exception for the object at <paramref name="uri"/>.</summary>
    public CatalogObjectMissingException(string uri, Exception? innerException = null)
        : base(uri, $"Catalog object '{uri}' no longer exists; it was deleted after it was listed.", innerException)
    {
    }
}

/// <summary>The object exists but its content changed since it was listed (its ETag differs).</summary>
public sealed class CatalogObjectChangedException : CatalogObjectException
{
    /// <summary>Creates the exception; <paramref name="actualETag"/> is null when the store only said "precondition failed".</summary>
    public CatalogObjectChangedException(string uri, string expectedETag, string? actualETag, Exception? innerException = null)
        : base(uri, $"Catalog object '{uri}' changed after it was listed: expected ETag {expectedETag}, found {actualETag ?? "a different one"}. " +
                    "The listed version can no longer be read.", innerException)
    {
        ExpectedETag = expectedETag;
        ActualETag = actualETag;
    }

    /// <summary>The ETag recorded at listing time.</summary>
    public string ExpectedETag { get; }

    /// <summary>The ETag the store reports now, when known.</summary>
    public string? ActualETag { get; }
}

/// <summary>The object is larger than <see cref="CatalogOptions.MaxObjectBytes"/> and was not read.</summary>
public sealed class CatalogObjectTooLargeException : CatalogObjectException
{
    /// <summary>Creates the exception for an object of <paramref name="size"/> bytes over <paramref name="limit"/>.</summary>
    public CatalogObjectTooLargeException(string uri, long size, long limit)
        : this(uri, size, limit, $"{CatalogOptions.SectionName}:MaxObjectBytes")
    {
    }

    /// <summary>Creates the exception for an object over a limit other than the catalog's, named by <paramref name="limitName"/>.</summary>
    public CatalogObjectTooLargeException(string uri, long size, long limit, string limitName)
        : base(uri, $"Catalog object '{uri}' is {size} bytes, over the limit of {limit} bytes ({limitName}).")
    {
        Size = size;
        Limit = limit;
    }

    /// <summary>The object's size in bytes.</summary>
    public long Size { get; }

    /// <summary>The configured limit in bytes.</summary>
    public long Limit { get; }
}

/// <summary>
/// A job named an object this catalog cannot address: not an S3 URI or absolute path, outside the catalog's root, or
/// reached through a link that leaves it. It is an <see cref="ArgumentException"/> so that callers checking arguments
/// keep working, and a type of its own so that a worker records exactly these as <c>invalid_uri</c>, never an argument
/// error that is a bug in our own code.
/// </summary>
public sealed class CatalogUriException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="uri"/>.</summary>
    public CatalogUriException(string uri, string message)
        : base(message) => Uri = uri;

    /// <summary>The URI as the job gave it.</summary>
    public string Uri { get; }
}

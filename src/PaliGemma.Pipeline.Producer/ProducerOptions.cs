using System.ComponentModel.DataAnnotations;

namespace PaliGemma.Pipeline.Producer;

/// <summary>Producer settings, bound from the "Producer" section.</summary>
public sealed class ProducerOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Producer";

    /// <summary>
    /// Publishes awaiting a broker confirm at once. Bounded so memory stays flat at millions of messages while
    /// confirms still pipeline.
    /// </summary>
    [Range(1, 65_536)]
    public int MaxInFlight { get; set; } = 256;

    /// <summary>Objects per listing page handled as one unit (skip lookup, run-item insert, publish, checkpoint).</summary>
    [Range(1, 10_000)]
    public int PageSize { get; set; } = 1000;

    /// <summary>Seconds between progress lines while listing.</summary>
    [Range(1, 3600)]
    public int ProgressIntervalSeconds { get; set; } = 5;

    /// <summary>
    /// Longest wait for one send's broker confirm, in milliseconds. A confirm lost with a dropped connection would
    /// otherwise hold the enumeration forever; past this the page is retried (Producer:Retry) on a fresh connection.
    /// </summary>
    [Range(1000, 600_000)]
    public int SendTimeoutMs { get; set; } = 30_000;

    /// <summary>
    /// Partitions listed at once (default 1: one listing stream, resumed from one key). Above 1, a source that can split
    /// its listing (S3: one partition per prefix one '/' level below the root, plus the objects at that level) lists that
    /// many partitions concurrently, each with its own pages and its own resume key, so a large bucket lists at several
    /// times one stream's rate. Worth it when the catalog is spread over many prefixes; a single huge prefix is still one
    /// stream. A local folder always lists as one stream.
    /// </summary>
    [Range(1, 64)]
    public int ListConcurrency { get; set; } = 1;
}

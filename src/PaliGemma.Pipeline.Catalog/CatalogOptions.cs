using System.ComponentModel.DataAnnotations;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>Limits and tuning for catalog sources, bound from the "Catalog" configuration section.</summary>
public sealed class CatalogOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Catalog";

    /// <summary>
    /// Largest object <see cref="ICatalogSource.ReadAsync"/> will load into memory (default 256 MiB). A guard against
    /// a stray video or archive in an image bucket exhausting a worker's memory.
    /// </summary>
    [Range(1, int.MaxValue)]
    public long MaxObjectBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Keys requested per ListObjectsV2 page (S3 caps this at 1000).</summary>
    [Range(1, 1000)]
    public int ListPageSize { get; set; } = 1000;

    /// <summary>
    /// Retries of one ListObjectsV2 request the store throttled (SlowDown, 503, 429), with full-jitter exponential
    /// backoff from <see cref="ListRetryInitialDelayMs"/> doubling to 30 s (default 8: up to about a minute).
    /// </summary>
    [Range(0, 100)]
    public int ListRetryLimit { get; set; } = 8;

    /// <summary>The first throttling backoff's ceiling, in milliseconds (default 200).</summary>
    [Range(1, 60_000)]
    public int ListRetryInitialDelayMs { get; set; } = 200;

    /// <summary>How many local files are hashed concurrently while listing a folder.</summary>
    [Range(1, 64)]
    public int LocalHashParallelism { get; set; } = Math.Clamp(Environment.ProcessorCount, 1, 8);

    /// <summary>
    /// Reuse a local file's content hash from earlier listings while its path, size, modification time and file id are
    /// unchanged, so that a nightly listing opens only new or changed files (default true). See the README's
    /// "Local folders" for the rule and its one blind spot.
    /// </summary>
    public bool LocalHashCache { get; set; } = true;

    /// <summary>
    /// Folder of the local hash cache files (one SQLite file per catalog folder). Default: $XDG_CACHE_HOME/pgpipe or
    /// ~/.cache/pgpipe. It must not lie inside a catalog folder, or the cache would be listed as an image.
    /// </summary>
    public string? LocalHashCacheFolder { get; set; }
}

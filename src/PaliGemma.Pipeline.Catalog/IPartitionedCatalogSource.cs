namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// A catalog whose listing can be split into independent partitions listed concurrently: the prefixes one delimiter
/// level below the root (an S3 bucket's "folders"; below the single folder when a level holds nothing else), plus the
/// objects at that level itself. Each partition lists in key
/// order and resumes after its own last key, so a parallel listing checkpoints per partition.
/// </summary>
public interface IPartitionedCatalogSource : ICatalogSource
{
    /// <summary>
    /// The partitions of the listing <paramref name="filter"/> selects, in key order, streamed (a bucket may have
    /// millions of prefixes). Together they hold every object <see cref="ICatalogSource.ListAsync(CatalogFilter, CancellationToken)"/> would list, each once.
    /// </summary>
    IAsyncEnumerable<CatalogPartition> ListPartitionsAsync(CatalogFilter filter, CancellationToken ct);

    /// <summary>The objects of one partition that pass <paramref name="filter"/>, in key order, strictly after <paramref name="startAfterKey"/> when given.</summary>
    IAsyncEnumerable<CatalogObject> ListAsync(CatalogFilter filter, CatalogPartition partition, string? startAfterKey, CancellationToken ct);
}

/// <summary>One independently listed part of a catalog.</summary>
/// <param name="Prefix">The key prefix (relative to the source root) the partition covers.</param>
/// <param name="ObjectsOnly">
/// True for the objects directly at <paramref name="Prefix"/>'s level (a delimiter listing's contents); false for every
/// key under the folder <paramref name="Prefix"/>.
/// </param>
public sealed record CatalogPartition(string Prefix, bool ObjectsOnly)
{
    /// <summary>A stable name for checkpoints: "objects:" or "prefix:" followed by the prefix.</summary>
    public string Id => (ObjectsOnly ? "objects:" : "prefix:") + Prefix;
}

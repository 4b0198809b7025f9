using System.Globalization;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Where a document can be read back from: the version <see cref="ResultStore.GetDocumentAsync"/> shows and the
/// source of the run that expanded it, so a page without a result (failed or pending) can still be rendered.
/// </summary>
/// <param name="Uri">Object URI.</param>
/// <param name="ETag">The version, the latest recorded.</param>
/// <param name="Kind">"pdf" or "tiff".</param>
/// <param name="PageCount">Pages, or null when it could not be opened.</param>
/// <param name="Size">Object size in bytes.</param>
/// <param name="RunSource">The listed source of the run that recorded it; null when no run did or the run is gone.</param>
/// <param name="RunModel">That run's model key, the natural default for showing the document; null likewise.</param>
public sealed record DocumentSource(string Uri, string ETag, string Kind, int? PageCount, long Size, string? RunSource, string? RunModel);

/// <summary>The document lookup the results browser needs to render pages; apart from the views so it stays one query.</summary>
internal sealed class DocumentSources(StoreContext store)
{
    public Task<DocumentSource?> GetAsync(string uri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return store.ExecuteAsync(
            false,
            async (connection, transaction, ct) =>
            {
                using var b = store.Command(connection, transaction);
                // The same version GetDocumentAsync picks: newest recorded first.
                b.Sql.Append(CultureInfo.InvariantCulture,
                    $"SELECT d.etag, d.kind, d.page_count, d.size, ru.source, ru.model FROM documents d LEFT JOIN runs ru ON ru.id = d.run_id WHERE d.uri = {b.Text(uri)} ORDER BY d.created_at DESC, d.etag LIMIT 1");
                var found = await StoreContext.ReadAsync(
                    b.Build(),
                    r => new DocumentSource(uri, r.GetString(0), r.GetString(1),
                        r.IsDBNull(2) ? null : Convert.ToInt32(r.GetValue(2), CultureInfo.InvariantCulture),
                        Convert.ToInt64(r.GetValue(3), CultureInfo.InvariantCulture), r.GetNullableString(4), r.GetNullableString(5)),
                    ct).ConfigureAwait(false);
                return found.Count == 0 ? null : found[0];
            },
            cancellationToken);
    }
}

using System.Runtime.CompilerServices;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>One page of an exported document: its image size and one row per task of the run.</summary>
internal sealed record ExportedPage(int Page, int? Width, int? Height, IReadOnlyList<ExportRow> Rows);

/// <summary>
/// One document of a run's export: its pages in order (none when it could not be opened), and its own failure row (the
/// first task's, at page 0), if any.
/// </summary>
internal sealed record ExportedDocument(string Uri, string ETag, string Kind, int? PageCount, IReadOnlyList<ExportedPage> Pages, ExportRow? Failure)
{
    /// <summary>Pages with a result for every task of <paramref name="tasks"/>.</summary>
    public int PagesDone(IReadOnlyCollection<string> tasks) =>
        Pages.Count(p => tasks.All(t => p.Rows.Any(r => r.Task == t && r.Status == ExportStatus.Ok)));

    /// <summary>Pages with at least one failed task.</summary>
    public int PagesFailed => Pages.Count(p => p.Rows.Any(r => r.Status == ExportStatus.Failed));
}

/// <summary>Groups a run's export rows (ordered by URI, page, task) into documents, one in memory at a time.</summary>
internal static class DocumentExport
{
    /// <summary>
    /// The documents among <paramref name="rows"/>, in URI order; plain images are passed to <paramref name="counted"/>
    /// like every other row but not returned.
    /// </summary>
    public static async IAsyncEnumerable<ExportedDocument> GroupAsync(
        IAsyncEnumerable<ExportRow> rows, Action<ExportRow> counted, [EnumeratorCancellation] CancellationToken ct)
    {
        var current = new List<ExportRow>();
        await foreach (var row in rows.WithCancellation(ct).ConfigureAwait(false))
        {
            counted(row);
            if (current.Count > 0 && !string.Equals(current[0].Uri, row.Uri, StringComparison.Ordinal))
            {
                if (Build(current) is { } done)
                {
                    yield return done;
                }

                current.Clear();
            }

            current.Add(row);
        }

        if (Build(current) is { } last)
        {
            yield return last;
        }
    }

    private static ExportedDocument? Build(List<ExportRow> rows)
    {
        if (rows.Count == 0 || rows[0].DocumentKind is not { } kind)
        {
            return null;
        }

        var first = rows[0];
        var pages = rows.Where(r => r.Page is not null)
            .GroupBy(r => r.Page!.Value)
            .OrderBy(g => g.Key)
            .Select(g => new ExportedPage(g.Key, g.FirstOrDefault(r => r.Width is not null)?.Width, g.FirstOrDefault(r => r.Height is not null)?.Height, g.ToList()))
            .ToList();
        var failure = rows.FirstOrDefault(r => r.Page is null && r.Status == ExportStatus.Failed);
        return new ExportedDocument(first.Uri, first.ETag, kind, first.PageCount, pages, failure);
    }
}

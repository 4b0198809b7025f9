namespace PaliGemma.Pipeline.Data;

/// <summary>Assembles a <see cref="DocumentView"/> from a document's rows; kept apart from the SQL so the rules read in one place.</summary>
internal static class DocumentViews
{
    public static DocumentView Build(
        string uri,
        string etag,
        string kind,
        int? pageCount,
        IReadOnlyList<StoredResult> results,
        IReadOnlyList<(int Page, FailureView Failure)> failures,
        IReadOnlyDictionary<int, (int Page, int Width, int Height)> sizes)
    {
        // The document's tasks are those it has any outcome for: the store does not know which tasks a caller ran.
        var tasks = results.Select(r => r.Task).Concat(failures.Select(f => f.Failure.Task)).ToHashSet(StringComparer.Ordinal);
        var resultsByPage = results.Where(r => r.Page is > 0).ToLookup(r => r.Page!.Value);
        var failuresByPage = failures.Where(f => f.Page > 0).ToLookup(f => f.Page, f => f.Failure);
        // Pages beyond a known count cannot exist; without a count, show what workers wrote.
        var last = pageCount ?? results.Select(r => r.Page ?? 0).Concat(failures.Select(f => f.Page)).DefaultIfEmpty(0).Max();
        var pages = new List<DocumentPageView>(Math.Max(0, last));
        int done = 0, failed = 0;
        for (var page = 1; page <= last; page++)
        {
            var pageResults = resultsByPage[page].OrderBy(r => r.Task, StringComparer.Ordinal).ToList();
            var pageFailures = failuresByPage[page]
                .Where(f => !pageResults.Any(r => r.Task == f.Task))
                .OrderBy(f => f.Task, StringComparer.Ordinal)
                .Select(f => (f.Task, f.ReasonCode, f.Message))
                .ToList();
            if (pageFailures.Count > 0)
            {
                failed++;
            }
            else if (tasks.Count > 0 && tasks.All(t => pageResults.Any(r => r.Task == t)))
            {
                done++;
            }

            var size = sizes.TryGetValue(page, out var s) ? s : default;
            pages.Add(new DocumentPageView(page, size.Page == page ? size.Width : null, size.Page == page ? size.Height : null, pageResults, pageFailures));
        }

        var own = failures.Where(f => f.Page == 0).Select(f => f.Failure).OrderBy(f => f.Task, StringComparer.Ordinal).FirstOrDefault();
        return new DocumentView(uri, etag, kind, pageCount, pages, own, done, failed, pageCount > 0 && done == pageCount);
    }
}

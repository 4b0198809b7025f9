using System.Security.Cryptography;
using System.Text;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>
/// <c>pgpipe export --format text --out FOLDER</c>: one UTF-8 <c>.txt</c> file per document with pages (plain images and
/// documents that could not be opened get none), holding the pages' text for the chosen task (the run's first task, or
/// <c>--task</c>) in page order, separated by form feeds (\f); a page without a result contributes an empty text, so the
/// n-th form-feed-separated part is always page n. File names: <see cref="FileName"/>.
/// </summary>
internal static class TextExportWriter
{
    /// <summary>Writes the files into <paramref name="folder"/> (which exists), each replaced only once complete.</summary>
    public static async Task<ExportSummary> WriteAsync(IAsyncEnumerable<ExportRow> rows, string task, string folder, CancellationToken ct)
    {
        var counts = new ExportCounts();
        long documents = 0;
        await foreach (var d in DocumentExport.GroupAsync(rows, counts.Add, ct).ConfigureAwait(false))
        {
            if (d.Pages.Count == 0)
            {
                continue;
            }

            documents++;
            var text = string.Join('\f', d.Pages.Select(p => p.Rows.FirstOrDefault(r => r.Task == task && r.Status == ExportStatus.Ok)?.Text ?? string.Empty));
            var target = Path.Combine(folder, FileName(d.Uri));
            var partial = target + ".partial";
            try
            {
                await File.WriteAllTextAsync(partial, text, new UTF8Encoding(false), ct).ConfigureAwait(false);
                File.Move(partial, target, overwrite: true);
            }
            finally
            {
                File.Delete(partial);
            }
        }

        return counts.Summary() with { Documents = documents };
    }

    /// <summary>
    /// The URI's last path segment with every character other than ASCII letters, digits, '.', '-' and '_' replaced by
    /// '_' (at most 80 of them), then '-', the first 12 hex digits of the SHA-256 of the whole URI (so two documents of
    /// the same name in different folders never share a file), and ".txt".
    /// </summary>
    public static string FileName(string uri)
    {
        var name = uri.TrimEnd('/');
        name = name[(name.LastIndexOf('/') + 1)..];
        var safe = new string(name.Take(80).Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '.' or '-' or '_' ? ch : '_').ToArray()).TrimStart('.');
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(uri)))[..12];
        return (safe.Length == 0 ? "document" : safe) + "-" + hash + ".txt";
    }
}

using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>
/// <c>pgpipe export --format documents</c>: one JSON object per line for every listed object a worker recorded as a
/// document (plain images are left out), in URI order:
/// <c>{"uri","etag","kind","page_count","pages_done","pages_failed","complete","failure","pages"}</c>.
/// <c>page_count</c> is null when the document could not be opened, and <c>failure</c> is then its own failure
/// <c>{"task","reason_code","message"}</c> (null otherwise). <c>pages</c> holds every page in order as
/// <c>{"page","width","height","text","failures"}</c>, where <c>text</c> is the page's result for the chosen task (the
/// run's first task, or <c>--task</c>), null while pending or failed, and <c>failures</c> lists
/// <c>{"task","reason_code","message"}</c> of every failed task of the page. A page is done when every task of the run
/// has a result; <c>complete</c> when the page count is known and every page is done.
/// </summary>
internal static class DocumentsExportWriter
{
    /// <summary>Streams the documents of <paramref name="rows"/> to <paramref name="output"/>.</summary>
    public static async Task<ExportSummary> WriteAsync(IAsyncEnumerable<ExportRow> rows, RunInfo run, string task, TextWriter output, CancellationToken ct)
    {
        var counts = new ExportCounts();
        long documents = 0;
        using var chunks = new JsonChunkWriter(output);
        var w = chunks.Json;
        await foreach (var d in DocumentExport.GroupAsync(rows, counts.Add, ct).ConfigureAwait(false))
        {
            documents++;
            var done = d.PagesDone(run.Tasks.ToList());
            w.WriteStartObject();
            w.WriteString("uri", d.Uri);
            w.WriteString("etag", d.ETag);
            w.WriteString("kind", d.Kind);
            WriteNullableInt(w, "page_count", d.PageCount);
            w.WriteNumber("pages_done", done);
            w.WriteNumber("pages_failed", d.PagesFailed);
            w.WriteBoolean("complete", d.PageCount > 0 && done == d.PageCount);
            w.WritePropertyName("failure");
            if (d.Failure is { } failure)
            {
                WriteFailure(w, failure);
            }
            else
            {
                w.WriteNullValue();
            }

            w.WriteStartArray("pages");
            foreach (var page in d.Pages)
            {
                w.WriteStartObject();
                w.WriteNumber("page", page.Page);
                WriteNullableInt(w, "width", page.Width);
                WriteNullableInt(w, "height", page.Height);
                w.WriteString("text", page.Rows.FirstOrDefault(r => r.Task == task && r.Status == ExportStatus.Ok)?.Text);
                w.WriteStartArray("failures");
                foreach (var f in page.Rows.Where(r => r.Status == ExportStatus.Failed))
                {
                    WriteFailure(w, f);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            chunks.EndLine();
            await chunks.FlushIfFullAsync(ct).ConfigureAwait(false);
        }

        await chunks.FlushAsync(ct).ConfigureAwait(false);
        return counts.Summary() with { Documents = documents };
    }

    private static void WriteFailure(System.Text.Json.Utf8JsonWriter w, ExportRow row)
    {
        w.WriteStartObject();
        w.WriteString("task", row.Task);
        w.WriteString("reason_code", row.ReasonCode);
        w.WriteString("message", row.FailureMessage);
        w.WriteEndObject();
    }

    private static void WriteNullableInt(System.Text.Json.Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}

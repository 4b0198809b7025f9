using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>
/// <c>pgpipe export --format jsonl</c>: one JSON object per line for every (listed object, task) of the run, or
/// (page, task) of a listed document a worker opened, in URI, page, then task order, including results reused from
/// earlier runs. Every line has exactly the keys <c>uri</c>, <c>etag</c>, <c>task</c>, <c>model</c>, <c>status</c>,
/// <c>text</c>, <c>boxes</c>, <c>error</c>, plus <c>page</c> (1-based, after <c>uri</c>) on a document's page; a plain
/// image, and a document that could not be opened (its failure), have no <c>page</c>:
/// <list type="bullet">
/// <item><c>status</c> "ok": <c>text</c> is the model output (null only if none was stored), <c>boxes</c> an array
/// of <c>{"label","x1","y1","x2","y2"}</c> in original-image pixels ([] when the task found none), <c>error</c> null.</item>
/// <item><c>status</c> "failed": <c>error</c> is "reason_code: message" (or just the reason code), <c>text</c> and
/// <c>boxes</c> null.</item>
/// <item><c>status</c> "pending" (neither a result nor a failure yet): <c>text</c>, <c>boxes</c> and <c>error</c> null.
/// Pending rows are kept, so the line count is always objects x tasks and an unfinished run looks unfinished.</item>
/// </list>
/// </summary>
internal static class JsonlExportWriter
{
    /// <summary>Streams <paramref name="rows"/> to <paramref name="output"/>; <paramref name="model"/> is the run's model.</summary>
    public static async Task<ExportSummary> WriteAsync(IAsyncEnumerable<ExportRow> rows, string model, TextWriter output, CancellationToken ct)
    {
        long count = 0, ok = 0, failed = 0, pending = 0;
        using var chunks = new JsonChunkWriter(output);
        var w = chunks.Json;
        await foreach (var row in rows.WithCancellation(ct).ConfigureAwait(false))
        {
            count++;
            w.WriteStartObject();
            w.WriteString("uri", row.Uri);
            if (row.Page is { } page)
            {
                w.WriteNumber("page", page);
            }

            w.WriteString("etag", row.ETag);
            w.WriteString("task", row.Task);
            w.WriteString("model", model);
            switch (row.Status)
            {
                case ExportStatus.Ok:
                    ok++;
                    w.WriteString("status", "ok");
                    w.WriteString("text", row.Text);
                    w.WritePropertyName("boxes");
                    StoredBoxes.WriteArray(w, row);
                    w.WriteNull("error");
                    break;
                case ExportStatus.Failed:
                    failed++;
                    w.WriteString("status", "failed");
                    w.WriteNull("text");
                    w.WriteNull("boxes");
                    w.WriteString("error", FormatError(row));
                    break;
                default:
                    pending++;
                    w.WriteString("status", "pending");
                    w.WriteNull("text");
                    w.WriteNull("boxes");
                    w.WriteNull("error");
                    break;
            }

            w.WriteEndObject();
            chunks.EndLine();
            await chunks.FlushIfFullAsync(ct).ConfigureAwait(false);
        }

        await chunks.FlushAsync(ct).ConfigureAwait(false);
        return new ExportSummary(count, ok, failed, pending, 0, 0, 0);
    }

    /// <summary>"reason_code: message", or the reason code alone when the failure has no message.</summary>
    internal static string FormatError(ExportRow row) =>
        string.IsNullOrWhiteSpace(row.FailureMessage) ? row.ReasonCode ?? "failed" : $"{row.ReasonCode}: {row.FailureMessage}";
}

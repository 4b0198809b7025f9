using System.Text;
using System.Text.Json;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>
/// <c>pgpipe export --format coco</c>: the run's boxes as one COCO object-detection JSON document:
/// <code>
/// {"info": {"description", "run", "run_id", "model", "tasks", "date_created"},
///  "images": [{"id", "file_name": uri, "width", "height", "etag"}],
///  "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd": 0, "task",
///                   "segmentation": {"size": [h, w], "counts": "..."} (segment objects with a mask only)}],
///  "categories": [{"id", "name": label, "supercategory": "object"}]}
/// </code>
/// An image is written for every object of the run with at least one "ok" (object, task) row, so processed
/// images without detections are kept as negatives; objects with only failed or pending rows are left out.
/// width/height are null when the worker stored no image facts. bbox is [x1, y1, x2 - x1, y2 - y1] and area is
/// w x h (derived values rounded to 6 decimals to drop float noise), except for an object with a mask, whose area is
/// the mask's pixel count (COCO's rule for segmentation) and whose segmentation is the stored RLE unchanged. Ids count from 1 in URI order; category ids
/// in order of first appearance.
/// One pass over the store keeps one snapshot and flat memory: images stream to the output as they are read,
/// annotations go to a temporary file that is copied after them, and categories (known only at the end)
/// come last. JSON key order does not matter to COCO readers.
/// </summary>
internal static class CocoExportWriter
{
    /// <summary>Streams the run's rows to <paramref name="output"/> as one COCO document.</summary>
    public static async Task<ExportSummary> WriteAsync(IAsyncEnumerable<ExportRow> rows, RunInfo run, DateTime createdUtc, TextWriter output, CancellationToken ct)
    {
        long count = 0, ok = 0, failed = 0, pending = 0, images = 0, annotations = 0;
        var categories = new Dictionary<string, int>(StringComparer.Ordinal);
        var categoryOrder = new List<string>();

        var annotationPath = Path.Combine(Path.GetTempPath(), $"pgpipe-coco-{Guid.NewGuid():N}.json");
        await using var annotationFile = new FileStream(annotationPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 64 * 1024,
            FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        var annotationText = new StreamWriter(annotationFile, new UTF8Encoding(false), 64 * 1024, leaveOpen: true);
        await using (annotationText.ConfigureAwait(false))
        {
            using var main = new JsonChunkWriter(output);
            using var side = new JsonChunkWriter(annotationText);
            var w = main.Json;
            var a = side.Json;

            w.WriteStartObject();
            w.WriteStartObject("info");
            w.WriteString("description", $"pgpipe export of run {run.Name}");
            w.WriteString("run", run.Name);
            w.WriteString("run_id", run.Id);
            w.WriteString("model", run.Model);
            w.WriteStartArray("tasks");
            foreach (var t in run.Tasks)
            {
                w.WriteStringValue(t);
            }

            w.WriteEndArray();
            w.WriteString("date_created", DateTime.SpecifyKind(createdUtc, DateTimeKind.Utc));
            w.WriteEndObject();
            w.WriteStartArray("images");
            a.WriteStartArray();

            // Rows arrive ordered by URI, page, then task, so one image's rows (an object, or one page of a document) are
            // consecutive: keep only those.
            var current = new List<ExportRow>();
            async Task FlushObjectAsync()
            {
                if (current.Count == 0 || !current.Exists(r => r.Status == ExportStatus.Ok))
                {
                    current.Clear();
                    return;
                }

                var imageId = ++images;
                var first = current[0];
                w.WriteStartObject();
                w.WriteNumber("id", imageId);
                w.WriteString("file_name", first.Uri);
                WriteNullableInt(w, "width", current.Find(r => r.Width is not null)?.Width);
                WriteNullableInt(w, "height", current.Find(r => r.Height is not null)?.Height);
                w.WriteString("etag", first.ETag);
                if (first.Page is { } page)
                {
                    // Each page of a document is its own image; file_name stays the document's URI.
                    w.WriteNumber("page", page);
                }

                w.WriteEndObject();

                foreach (var row in current.Where(r => r.Status == ExportStatus.Ok))
                {
                    foreach (var box in StoredBoxes.Read(row))
                    {
                        if (!categories.TryGetValue(box.Label, out var categoryId))
                        {
                            categoryOrder.Add(box.Label);
                            categoryId = categoryOrder.Count;
                            categories.Add(box.Label, categoryId);
                        }

                        var width = Math.Round(box.X2 - box.X1, 6);
                        var height = Math.Round(box.Y2 - box.Y1, 6);
                        a.WriteStartObject();
                        a.WriteNumber("id", ++annotations);
                        a.WriteNumber("image_id", imageId);
                        a.WriteNumber("category_id", categoryId);
                        a.WriteStartArray("bbox");
                        a.WriteNumberValue(box.X1);
                        a.WriteNumberValue(box.Y1);
                        a.WriteNumberValue(width);
                        a.WriteNumberValue(height);
                        a.WriteEndArray();
                        if (box.Mask is { } mask)
                        {
                            a.WriteNumber("area", mask.Area);
                            a.WriteStartObject("segmentation");
                            a.WriteStartArray("size");
                            a.WriteNumberValue(mask.Height);
                            a.WriteNumberValue(mask.Width);
                            a.WriteEndArray();
                            a.WriteString("counts", mask.Counts);
                            a.WriteEndObject();
                        }
                        else
                        {
                            a.WriteNumber("area", Math.Round(width * height, 6));
                        }

                        a.WriteNumber("iscrowd", 0);
                        a.WriteString("task", row.Task);
                        a.WriteEndObject();
                    }
                }

                current.Clear();
                await main.FlushIfFullAsync(ct).ConfigureAwait(false);
                await side.FlushIfFullAsync(ct).ConfigureAwait(false);
            }

            await foreach (var row in rows.WithCancellation(ct).ConfigureAwait(false))
            {
                count++;
                switch (row.Status)
                {
                    case ExportStatus.Ok: ok++; break;
                    case ExportStatus.Failed: failed++; break;
                    default: pending++; break;
                }

                if (current.Count > 0 && (!string.Equals(current[0].Uri, row.Uri, StringComparison.Ordinal) || current[0].Page != row.Page))
                {
                    await FlushObjectAsync().ConfigureAwait(false);
                }

                current.Add(row);
            }

            await FlushObjectAsync().ConfigureAwait(false);
            w.WriteEndArray();
            a.WriteEndArray();
            await side.FlushAsync(ct).ConfigureAwait(false);

            // The annotations array is already valid JSON in the side file: splice it in as the next property.
            await main.WriteRawAsync(",\"annotations\":", ct).ConfigureAwait(false);
            annotationFile.Position = 0;
            using (var reader = new StreamReader(annotationFile, Encoding.UTF8, false, 64 * 1024, leaveOpen: true))
            {
                await main.CopyRawAsync(reader, ct).ConfigureAwait(false);
            }

            // The writer's state still says "after the images array", so it puts the comma before categories.
            w.WriteStartArray("categories");
            for (var i = 0; i < categoryOrder.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", i + 1);
                w.WriteString("name", categoryOrder[i]);
                w.WriteString("supercategory", "object");
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            await main.FlushAsync(ct).ConfigureAwait(false);
            await output.WriteLineAsync().ConfigureAwait(false);
        }

        return new ExportSummary(count, ok, failed, pending, images, annotations, categoryOrder.Count);
    }

    private static void WriteNullableInt(Utf8JsonWriter w, string name, int? value)
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

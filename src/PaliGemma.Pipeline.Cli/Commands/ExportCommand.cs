using System.CommandLine;
using System.Globalization;
using System.Text;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Cli.Export;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe export</c> was asked to write.</summary>
internal sealed record ExportSettings(string Run, string Format, string? Out, string? Task = null);

/// <summary>
/// <c>pgpipe export RUN --format jsonl|coco|documents|text [--out FILE|FOLDER] [--task TASK]</c>: every (object or page,
/// task) of a run, including results reused from earlier runs, as JSON Lines (<see cref="JsonlExportWriter"/>), a COCO
/// detection document (<see cref="CocoExportWriter"/>) or one JSON line per document
/// (<see cref="DocumentsExportWriter"/>), to stdout or FILE; or one text file per document into FOLDER
/// (<see cref="TextExportWriter"/>).
/// </summary>
internal static class ExportCommand
{
    /// <summary>Accepted --format values.</summary>
    public static readonly IReadOnlyList<string> Formats = ["jsonl", "coco", "documents", "text"];

    public static Command Create()
    {
        var run = new Argument<string>("RUN") { Description = "Run name or id (see `pgpipe status`)." };
        var format = new Option<string>("--format", "-f")
        {
            Description = "jsonl: one line per (object, task), or per (page, task) of a document, with keys uri, page (documents' pages only), etag, task, model, status (ok|failed|pending), text, boxes, error. " +
                "coco: COCO detection JSON of the run's boxes (a document's page is an image with a page key). " +
                "documents: one line per document: uri, etag, kind, page_count, pages_done, pages_failed, complete, failure, pages [{page, width, height, text, failures}], text being the --task's. " +
                "text: into the --out folder, one .txt per document of the --task's page texts in page order, separated by form feeds.",
            DefaultValueFactory = _ => "jsonl",
            HelpName = "jsonl|coco|documents|text",
        };
        format.CompletionSources.Add(Formats.ToArray());
        var output = new Option<string?>("--out", "-o")
        {
            Description = "Write to FILE (replaced only when the export completes) instead of stdout; with --format text, the FOLDER to write the .txt files into (created if missing).",
            HelpName = "FILE|FOLDER",
        };
        var task = new Option<string?>("--task")
        {
            Description = "Which task's text the documents and text formats take for each page; default: the run's first task.",
            HelpName = "TASK",
        };
        var db = StoreAccess.CreateDbOption();

        var command = new Command("export", "Export a run's results (reused ones included) as JSON Lines or COCO to stdout or a file.");
        command.Add(run);
        command.Add(format);
        command.Add(output);
        command.Add(task);
        command.Add(db);
        command.SetAction((r, ct) =>
        {
            var s = new ExportSettings(r.GetValue(run)!, (r.GetValue(format) ?? "jsonl").Trim().ToLowerInvariant(), r.GetValue(output), r.GetValue(task));
            return ReadOutput.RunAsync(r, db, (c, token) => RunAsync(c, s, token), ct, () =>
            {
                if (!Formats.Contains(s.Format))
                {
                    throw new UsageException($"--format '{r.GetValue(format)}' is not supported; use one of: {string.Join(", ", Formats)}.");
                }

                if (s.Format == "text" && string.IsNullOrWhiteSpace(s.Out))
                {
                    throw new UsageException("--format text writes one file per document: give the folder with --out FOLDER.");
                }
            });
        });
        return command;
    }

    private static async Task<int> RunAsync(ReadContext c, ExportSettings s, CancellationToken ct)
    {
        var (format, file) = (s.Format, s.Out);
        var run = await ReadOutput.FindRunAsync(c, s.Run, ct).ConfigureAwait(false);
        var task = s.Task ?? run.Tasks[0];
        if (!run.Tasks.Contains(task))
        {
            throw new UsageException($"--task '{task}' is not a task of run '{run.Name}'; its tasks: {string.Join(", ", run.Tasks)}.");
        }

        ExportSummary summary;
        if (format == "text")
        {
            var folder = Path.GetFullPath(file!);
            Directory.CreateDirectory(folder);
            summary = await TextExportWriter.WriteAsync(c.Store.ExportRunAsync(run.Id, ct), task, folder, ct).ConfigureAwait(false);
        }
        else if (file is null)
        {
            summary = await WriteAsync(c.Store, run, format, task, c.Output, ct).ConfigureAwait(false);
        }
        else
        {
            var target = Path.GetFullPath(file);
            if (Directory.Exists(target))
            {
                throw new UsageException($"--out {file} is a folder; give a file name (a folder is for --format text).");
            }

            var folder = Path.GetDirectoryName(target)!;
            if (!Directory.Exists(folder))
            {
                throw new UsageException($"--out {file}: folder {folder} does not exist.");
            }

            // Written beside the target and moved over it at the end, so a failed export never leaves half a file
            // where a complete one is expected.
            var partial = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.partial");
            try
            {
                var stream = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous);
                var writer = new StreamWriter(stream, new UTF8Encoding(false), 64 * 1024);
                await using (writer.ConfigureAwait(false))
                {
                    summary = await WriteAsync(c.Store, run, format, task, writer, ct).ConfigureAwait(false);
                }

                File.Move(partial, target, overwrite: true);
            }
            finally
            {
                File.Delete(partial);
            }
        }

        await c.Error.WriteLineAsync(Describe(run, format, file, summary)).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static Task<ExportSummary> WriteAsync(ResultStore store, RunInfo run, string format, string task, TextWriter output, CancellationToken ct) =>
        format switch
        {
            "coco" => CocoExportWriter.WriteAsync(store.ExportRunAsync(run.Id, ct), run, DateTime.UtcNow, output, ct),
            "documents" => DocumentsExportWriter.WriteAsync(store.ExportRunAsync(run.Id, ct), run, task, output, ct),
            _ => JsonlExportWriter.WriteAsync(store.ExportRunAsync(run.Id, ct), run.Model, output, ct),
        };

    private static string Describe(RunInfo run, string format, string? file, ExportSummary s)
    {
        var where = file is null ? "stdout" : Path.GetFullPath(file);
        var text = string.Create(CultureInfo.InvariantCulture,
            $"Exported run '{run.Name}' as {format} to {where}: {s.Rows} (object, task) rows: {s.Ok} ok, {s.Failed} failed, {s.Pending} pending");
        return format switch
        {
            "coco" => text + string.Create(CultureInfo.InvariantCulture, $"; {s.Images} images, {s.Annotations} annotations, {s.Categories} categories."),
            "documents" or "text" => text + string.Create(CultureInfo.InvariantCulture, $"; {s.Documents} documents."),
            _ => text + ".",
        };
    }
}

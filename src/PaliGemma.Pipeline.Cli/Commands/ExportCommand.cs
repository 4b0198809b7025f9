using System.CommandLine;
using System.Globalization;
using System.Text;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Cli.Export;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe export</c> was asked to write.</summary>
internal sealed record ExportSettings(string Run, string Format, string? Out);

/// <summary>
/// <c>pgpipe export RUN --format jsonl|coco [--out FILE]</c>: every (object, task) of a run, including results
/// reused from earlier runs, as JSON Lines (<see cref="JsonlExportWriter"/>) or a COCO detection document
/// (<see cref="CocoExportWriter"/>), to stdout or FILE.
/// </summary>
internal static class ExportCommand
{
    /// <summary>Accepted --format values.</summary>
    public static readonly IReadOnlyList<string> Formats = ["jsonl", "coco"];

    public static Command Create()
    {
        var run = new Argument<string>("RUN") { Description = "Run name or id (see `pgpipe status`)." };
        var format = new Option<string>("--format", "-f")
        {
            Description = "jsonl: one line per (object, task) with keys uri, etag, task, model, status (ok|failed|pending), text, boxes, error. coco: COCO detection JSON of the run's boxes.",
            DefaultValueFactory = _ => "jsonl",
            HelpName = "jsonl|coco",
        };
        format.CompletionSources.Add(Formats.ToArray());
        var output = new Option<string?>("--out", "-o") { Description = "Write to FILE (replaced only when the export completes) instead of stdout.", HelpName = "FILE" };
        var db = StoreAccess.CreateDbOption();

        var command = new Command("export", "Export a run's results (reused ones included) as JSON Lines or COCO to stdout or a file.");
        command.Add(run);
        command.Add(format);
        command.Add(output);
        command.Add(db);
        command.SetAction((r, ct) =>
        {
            var s = new ExportSettings(r.GetValue(run)!, (r.GetValue(format) ?? "jsonl").Trim().ToLowerInvariant(), r.GetValue(output));
            return ReadOutput.RunAsync(r, db, (c, token) => RunAsync(c, s, token), ct, () =>
            {
                if (!Formats.Contains(s.Format))
                {
                    throw new UsageException($"--format '{r.GetValue(format)}' is not supported; use one of: {string.Join(", ", Formats)}.");
                }
            });
        });
        return command;
    }

    private static async Task<int> RunAsync(ReadContext c, ExportSettings s, CancellationToken ct)
    {
        var (format, file) = (s.Format, s.Out);
        var run = await ReadOutput.FindRunAsync(c, s.Run, ct).ConfigureAwait(false);
        ExportSummary summary;
        if (file is null)
        {
            summary = await WriteAsync(c.Store, run, format, c.Output, ct).ConfigureAwait(false);
        }
        else
        {
            var target = Path.GetFullPath(file);
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
                    summary = await WriteAsync(c.Store, run, format, writer, ct).ConfigureAwait(false);
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

    private static Task<ExportSummary> WriteAsync(ResultStore store, RunInfo run, string format, TextWriter output, CancellationToken ct) =>
        format == "coco"
            ? CocoExportWriter.WriteAsync(store.ExportRunAsync(run.Id, ct), run, DateTime.UtcNow, output, ct)
            : JsonlExportWriter.WriteAsync(store.ExportRunAsync(run.Id, ct), run.Model, output, ct);

    private static string Describe(RunInfo run, string format, string? file, ExportSummary s)
    {
        var where = file is null ? "stdout" : Path.GetFullPath(file);
        var text = string.Create(CultureInfo.InvariantCulture,
            $"Exported run '{run.Name}' as {format} to {where}: {s.Rows} (object, task) rows: {s.Ok} ok, {s.Failed} failed, {s.Pending} pending");
        return format == "coco"
            ? text + string.Create(CultureInfo.InvariantCulture, $"; {s.Images} images, {s.Annotations} annotations, {s.Categories} categories.")
            : text + ".";
    }
}

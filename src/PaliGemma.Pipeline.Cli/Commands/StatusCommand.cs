using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe status</c> was asked to show.</summary>
internal sealed record StatusSettings(string? Run, int WindowMinutes, int Limit, bool Json);

/// <summary>
/// <c>pgpipe status [RUN]</c>: one run's progress (objects listed and enqueued; (object or page, task) combinations
/// done, failed and pending; throughput and ETA; documents and their pages when the run has any), or without RUN every
/// run with its counts, newest first.
/// </summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var run = new Argument<string?>("RUN") { Description = "Run name or id. Omit to list runs, newest first.", Arity = ArgumentArity.ZeroOrOne };
        var window = new Option<int>("--window-minutes")
        {
            Description = "Throughput is the results this run wrote in the last N minutes, per minute; the ETA divides the pending combinations by it.",
            DefaultValueFactory = _ => 5,
        };
        var limit = new Option<int>("--limit", "-n") { Description = "Most runs listed when RUN is omitted.", DefaultValueFactory = _ => 50 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per run instead of a table." };
        var db = StoreAccess.CreateDbOption();

        var command = new Command("status", "Show a run's progress (done, failed, pending, throughput, ETA), or list all runs newest first.");
        command.Add(run);
        command.Add(window);
        command.Add(limit);
        command.Add(json);
        command.Add(db);
        command.SetAction((r, ct) =>
        {
            var s = new StatusSettings(r.GetValue(run), r.GetValue(window), r.GetValue(limit), r.GetValue(json));
            return ReadOutput.RunAsync(r, db, (c, token) => RunAsync(c, s, token), ct, () =>
            {
                if (s.WindowMinutes < 1 || s.Limit < 1)
                {
                    throw new UsageException(s.WindowMinutes < 1 ? $"--window-minutes must be at least 1; got {s.WindowMinutes}." : $"--limit must be at least 1; got {s.Limit}.");
                }
            });
        });
        return command;
    }

    private static async Task<int> RunAsync(ReadContext c, StatusSettings s, CancellationToken ct)
    {
        var window = TimeSpan.FromMinutes(s.WindowMinutes);
        var json = s.Json;
        if (s.Run is { } nameOrId)
        {
            var run = await ReadOutput.FindRunAsync(c, nameOrId, ct).ConfigureAwait(false);
            var status = await c.Store.GetRunStatusAsync(run.Id, window, ct).ConfigureAwait(false);
            if (json)
            {
                await c.Output.WriteLineAsync(ToJson(run, status, window)).ConfigureAwait(false);
            }
            else
            {
                await WriteOneAsync(c, run, status, window).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }

        var runs = await c.Store.ListRunsAsync(s.Limit, ct).ConfigureAwait(false);
        if (runs.Count == 0)
        {
            await c.Error.WriteLineAsync("No runs yet. Start one with `pgpipe run` or `pgpipe enqueue`.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var rows = new List<IReadOnlyList<string>>();
        foreach (var run in runs)
        {
            var status = await c.Store.GetRunStatusAsync(run.Id, window, ct).ConfigureAwait(false);
            if (json)
            {
                await c.Output.WriteLineAsync(ToJson(run, status, window)).ConfigureAwait(false);
                continue;
            }

            rows.Add([
                run.Name, run.Id.ToString(), FormatTime(run.CreatedAt), run.Model, string.Join(" | ", run.Tasks),
                ReadOutput.Count(status.Listed), ReadOutput.Count(status.Enqueued), ReadOutput.Count(status.Done),
                ReadOutput.Count(status.Failed), ReadOutput.Count(status.Pending), FormatRate(status.ThroughputPerMinute),
                FormatEta(status), status.ListingCompleted ? "complete" : "listing",
            ]);
        }

        if (!json)
        {
            await ReadOutput.WriteTableAsync(c.Output, c.OutputIsTerminal,
                ["RUN", "ID", "CREATED (UTC)", "MODEL", "TASKS", "LISTED", "ENQUEUED", "DONE", "FAILED", "PENDING", "PER MIN", "ETA", "LISTING"],
                rows, new HashSet<int> { 5, 6, 7, 8, 9, 10 }, terminalColumns: [0, 2, 5, 7, 8, 9, 10, 11, 12]).ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }

    private static async Task WriteOneAsync(ReadContext c, RunInfo run, RunStatus s, TimeSpan window)
    {
        var minutes = window.TotalMinutes.ToString("0.##", CultureInfo.InvariantCulture);
        List<IReadOnlyList<string>> rows =
        [
            ["run", run.Name],
            ["id", run.Id.ToString()],
            ["created (UTC)", FormatTime(run.CreatedAt)],
            ["source", run.Source],
            ["model", run.Model],
            ["tasks", string.Join(" | ", run.Tasks)],
            ["listing", s.ListingCompleted ? "complete" : "in progress"],
            ["listed objects", ReadOutput.Count(s.Listed)],
            ["enqueued objects", ReadOutput.Count(s.Enqueued)],
            ["combinations", ReadOutput.Count(s.Combinations)],
            ["done", ReadOutput.Count(s.Done)],
            ["failed", ReadOutput.Count(s.Failed)],
            ["pending", ReadOutput.Count(s.Pending)],
            [$"throughput (per min, last {minutes} min)", FormatRate(s.ThroughputPerMinute)],
            ["eta", FormatEta(s)],
        ];
        if (s.Documents > 0)
        {
            // After the combinations: a document counts as one combination per task until a worker opens it, then one per page.
            rows.InsertRange(9,
            [
                ["documents", ReadOutput.Count(s.Documents)],
                ["documents failed", ReadOutput.Count(s.DocumentsFailed)],
                ["pages", ReadOutput.Count(s.Pages)],
                ["page x task done", ReadOutput.Count(s.PagesDone)],
                ["page x task failed", ReadOutput.Count(s.PagesFailed)],
            ]);
        }

        await ReadOutput.WriteTableAsync(c.Output, c.OutputIsTerminal, ["FIELD", "VALUE"], rows).ConfigureAwait(false);
    }

    private static string ToJson(RunInfo run, RunStatus s, TimeSpan window)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("run", run.Name);
            w.WriteString("id", run.Id);
            w.WriteString("created_at", DateTime.SpecifyKind(run.CreatedAt, DateTimeKind.Utc));
            w.WriteString("source", run.Source);
            w.WriteString("model", run.Model);
            w.WriteStartArray("tasks");
            foreach (var t in run.Tasks)
            {
                w.WriteStringValue(t);
            }

            w.WriteEndArray();
            w.WriteBoolean("listing_completed", s.ListingCompleted);
            w.WriteNumber("listed", s.Listed);
            w.WriteNumber("enqueued", s.Enqueued);
            w.WriteNumber("combinations", s.Combinations);
            w.WriteNumber("done", s.Done);
            w.WriteNumber("failed", s.Failed);
            w.WriteNumber("pending", s.Pending);
            if (s.Documents > 0)
            {
                w.WriteNumber("documents", s.Documents);
                w.WriteNumber("documents_failed", s.DocumentsFailed);
                w.WriteNumber("pages", s.Pages);
                w.WriteNumber("pages_done", s.PagesDone);
                w.WriteNumber("pages_failed", s.PagesFailed);
            }

            w.WriteNumber("throughput_per_minute", Math.Round(s.ThroughputPerMinute, 3));
            w.WriteNumber("throughput_window_minutes", window.TotalMinutes);
            if (s.Eta is { } eta)
            {
                w.WriteNumber("eta_seconds", Math.Round(eta.TotalSeconds));
            }
            else
            {
                w.WriteNull("eta_seconds");
            }

            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string FormatTime(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string FormatRate(double perMinute) => perMinute.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>"done", "unknown" (nothing written in the window), or a compact duration such as "3m 20s".</summary>
    internal static string FormatEta(RunStatus s)
    {
        if (s.Pending == 0)
        {
            return s.ListingCompleted ? "done" : "0s (listing in progress)";
        }

        if (s.Eta is not { } eta)
        {
            return "unknown (no results in the window)";
        }

        var t = TimeSpan.FromSeconds(Math.Round(eta.TotalSeconds));
        return t.TotalDays >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalDays}d {t.Hours}h")
            : t.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.Hours}h {t.Minutes}m")
            : t.TotalMinutes >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{t.Minutes}m {t.Seconds}s")
            : string.Create(CultureInfo.InvariantCulture, $"{t.Seconds}s");
    }
}

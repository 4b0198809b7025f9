using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PaliGemma.Pipeline.Cli.Errors;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe search</c> was asked to find.</summary>
internal sealed record SearchSettings(string Query, int Limit, bool Json);

/// <summary>
/// <c>pgpipe search "query"</c>: full-text search over current results, best first, with the object URI of
/// each hit; a hit on a document page names it as <c>uri#page=N</c> in the table and as <c>"page": N</c> in JSON (a
/// plain image's hit is printed as before). Postgres: websearch syntax with english stemming; SQLite: every word required, porter stemming.
/// </summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var query = new Argument<string>("QUERY") { Description = "Words to find in result texts; stemmed, so 'sleeps' finds 'sleeping'." };
        var limit = new Option<int>("--limit", "-n") { Description = "Most hits to print.", DefaultValueFactory = _ => 20 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per hit: {\"rank\",\"uri\",\"task\",\"model\",\"snippet\"}, with \"page\" after \"uri\" for a document page." };
        var db = StoreAccess.CreateDbOption();

        var command = new Command("search", "Full-text search over current results; prints ranked hits with their object URIs.");
        command.Add(query);
        command.Add(limit);
        command.Add(json);
        command.Add(db);
        command.SetAction((r, ct) =>
        {
            var s = new SearchSettings(r.GetValue(query) ?? string.Empty, r.GetValue(limit), r.GetValue(json));
            return ReadOutput.RunAsync(r, db, (c, token) => RunAsync(c, s, token), ct, () =>
            {
                if (s.Limit < 1)
                {
                    throw new UsageException($"--limit must be at least 1; got {s.Limit}.");
                }

                if (string.IsNullOrWhiteSpace(s.Query))
                {
                    throw new UsageException("QUERY is empty; give at least one word to search for.");
                }
            });
        });
        return command;
    }

    private static async Task<int> RunAsync(ReadContext c, SearchSettings s, CancellationToken ct)
    {
        var (query, limit, json) = (s.Query, s.Limit, s.Json);
        var hits = await c.Store.SearchAsync(query, limit, ct).ConfigureAwait(false);
        if (hits.Count == 0)
        {
            // stderr, so a script reading stdout sees an empty result rather than a sentence.
            await c.Error.WriteLineAsync($"No results for '{query}'.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        if (json)
        {
            foreach (var hit in hits)
            {
                using var buffer = new MemoryStream();
                using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                {
                    w.WriteStartObject();
                    w.WriteNumber("rank", Math.Round(hit.Rank, 6));
                    w.WriteString("uri", hit.Uri);
                    if (hit.Page is { } page)
                    {
                        w.WriteNumber("page", page);
                    }

                    w.WriteString("task", hit.Task);
                    w.WriteString("model", hit.Model);
                    w.WriteString("snippet", hit.Snippet);
                    w.WriteEndObject();
                }

                await c.Output.WriteLineAsync(System.Text.Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }

        var rows = hits.Select((h, i) => (IReadOnlyList<string>)
        [
            (i + 1).ToString(CultureInfo.InvariantCulture),
            h.Rank.ToString("0.####", CultureInfo.InvariantCulture),
            // A page fragment, as PDF viewers understand it, so the column stays one copy-pasteable address.
            h.Page is { } page ? $"{h.Uri}#page={page.ToString(CultureInfo.InvariantCulture)}" : h.Uri,
            h.Task,
            h.Model,
            // One line per hit: snippets may hold newlines from OCR text.
            h.Snippet.ReplaceLineEndings(" "),
        ]).ToList();
        await ReadOutput.WriteTableAsync(c.Output, c.OutputIsTerminal, ["#", "RANK", "URI", "TASK", "MODEL", "SNIPPET"], rows, new HashSet<int> { 0, 1 }).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}

using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using PaliGemma.Pipeline.Cli.Export;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>
/// <c>pgpipe changes [--after CURSOR] [--follow] [--limit N] [--cursor-file FILE]</c>: the result store's change feed as
/// JSON Lines in commit order (<see cref="ChangeLine"/>), for downstream indexers in any language. Output is flushed
/// every <see cref="SaveEvery"/> lines and after every read of the feed (so whenever it is caught up), so a follower
/// behind a pipe sees each change within one read. Exit codes are those of <see cref="ExitCodes"/>; SIGINT and SIGTERM end a
/// run cleanly with 0 after the printed lines are flushed (and the cursor file written).
/// </summary>
internal static class ChangesCommand
{
    /// <summary>Rows per feed read. Large, because each read is a round trip and a snapshot: 10,000 rows are about 4 MB.</summary>
    public const int PageSize = 10_000;

    /// <summary>The output is flushed and the cursor file written at least every this many lines (and after every read).</summary>
    public const int SaveEvery = 1000;

    /// <summary>Longest --interval accepted, in seconds.</summary>
    public const double MaxIntervalSeconds = 3600;

    public static Command Create()
    {
        var after = new Option<string?>("--after") { Description = "Start after this cursor (a line's \"cursor\" value). Default: the beginning of the feed.", HelpName = "CURSOR" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep running and print new changes as they commit. Postgres wakes on NOTIFY and re-reads at least every --interval; SQLite polls every --interval. SIGINT or SIGTERM ends it with exit code 0." };
        var limit = new Option<long?>("--limit", "-n") { Description = "Stop after N lines (also with --follow).", HelpName = "N" };
        var cursorFile = new Option<string?>("--cursor-file")
        {
            Description = "Read the start cursor from FILE (absent or empty: the beginning) and, once the output is flushed, replace FILE (write, then rename) with the last printed cursor: at least every 1,000 lines and at exit. For consumers that read the output to its end, such as a file; an indexer behind a pipe stores each line's cursor after its own commit instead.",
            HelpName = "FILE",
        };
        var interval = new Option<double>("--interval")
        {
            Description = "With --follow: the longest wait, in seconds, before the feed is read again (rows held back by an older open transaction appear within it).",
            DefaultValueFactory = _ => 2,
            HelpName = "SECONDS",
        };
        var db = StoreAccess.CreateDbOption();

        var command = new Command("changes", "Print the change feed (results written or superseded) as JSON Lines in commit order, optionally following it.");
        command.Add(after);
        command.Add(follow);
        command.Add(limit);
        command.Add(cursorFile);
        command.Add(interval);
        command.Add(db);
        command.SetAction(async (r, ct) =>
        {
            var error = r.InvocationConfiguration.Error;
            var most = r.GetValue(limit);
            var seconds = r.GetValue(interval);
            var afterText = r.GetValue(after);
            var file = r.GetValue(cursorFile);
            string? problem = null;
            ChangeCursor start = ChangeCursor.Start;
            CursorFile? cursorTarget = null;
            if (most is < 1)
            {
                problem = $"--limit must be at least 1; got {most}.";
            }
            else if (!(seconds > 0 && seconds <= MaxIntervalSeconds))
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"--interval must be more than 0 and at most {MaxIntervalSeconds} seconds; got {seconds}.");
            }
            else if (afterText is not null && file is not null)
            {
                problem = "--after and --cursor-file both name a start cursor; give one (to start a cursor file at a cursor, write the cursor into the file).";
            }
            else if (afterText is not null && !ChangeCursor.TryParse(afterText, out start))
            {
                problem = $"--after '{Shorten(afterText)}' is not a change cursor; pass the \"cursor\" value of a line printed by pgpipe changes.";
            }
            else if (file is not null)
            {
                (cursorTarget, start, problem) = CursorFile.Open(file);
            }

            if (problem is not null)
            {
                await error.WriteLineAsync("error: " + problem).ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            try
            {
                return await ReadOutput.RunAsync(
                    r, db, (c, token) => RunAsync(c, start, r.GetValue(follow), most, cursorTarget, TimeSpan.FromSeconds(seconds), token), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // A signal before the first line (e.g. while the store was being opened): nothing to flush.
                return ExitCodes.Ok;
            }
        });
        return command;
    }

    private static async Task<int> RunAsync(ReadContext c, ChangeCursor start, bool follow, long? limit, CursorFile? cursorFile, TimeSpan interval, CancellationToken ct)
    {
        using var chunks = new JsonChunkWriter(c.Output);
        long printed = 0;
        ChangeCursor? buffered = null, saved = null;

        // Output and the cursor file are written with CancellationToken.None: a signal stops reading, never a half-written line.
        async Task FlushAsync()
        {
            await chunks.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            if (cursorFile is not null && buffered is { } last && last != saved)
            {
                cursorFile.Save(last);
                saved = last;
            }
        }

        // A small --limit reads no more rows than it prints.
        var pageSize = (int)Math.Min(PageSize, limit ?? PageSize);
        var pages = follow ? c.Store.FollowChangesAsync(start, pageSize, interval, ct) : ReadToEndAsync(c.Store, start, pageSize, ct);
        try
        {
            await foreach (var page in pages.ConfigureAwait(false))
            {
                foreach (var row in page.Rows)
                {
                    if (printed >= limit)
                    {
                        break;
                    }

                    ChangeFeedJson.Write(chunks.Json, ChangeLine.From(row));
                    chunks.EndLine();
                    printed++;
                    buffered = row.Position;
                    if (printed % SaveEvery == 0)
                    {
                        await FlushAsync().ConfigureAwait(false);
                    }
                    else
                    {
                        await chunks.FlushIfFullAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                }

                await FlushAsync().ConfigureAwait(false);
                if (printed >= limit)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // SIGINT or SIGTERM: a clean end, after the lines already printed are flushed and their cursor saved.
        }

        await FlushAsync().ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>The feed from <paramref name="cursor"/> to its current end, page by page.</summary>
    private static async IAsyncEnumerable<ChangePage> ReadToEndAsync(ResultStore store, ChangeCursor cursor, int pageSize, [EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            var page = await store.ReadChangesAsync(cursor, pageSize, ct).ConfigureAwait(false);
            if (page.Rows.Count > 0)
            {
                yield return page;
            }

            if (page.Rows.Count < pageSize)
            {
                yield break;
            }

            cursor = page.Next;
        }
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "...";

    /// <summary>
    /// The --cursor-file: read once at start, replaced atomically (a temporary file beside it, flushed to disk, then
    /// renamed over it), so a crash leaves either the old cursor or the new one, never a torn file.
    /// </summary>
    internal sealed class CursorFile
    {
        private readonly string _path;
        private readonly string _temporary;

        private CursorFile(string path)
        {
            _path = path;
            _temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.tmp");
        }

        /// <summary>The file and the cursor it holds (the beginning when absent or empty), or a usage problem.</summary>
        public static (CursorFile? File, ChangeCursor Start, string? Problem) Open(string file)
        {
            var path = Path.GetFullPath(file);
            var folder = Path.GetDirectoryName(path);
            if (folder is null || !Directory.Exists(folder))
            {
                return (null, default, $"--cursor-file {file}: folder {folder} does not exist.");
            }

            if (Directory.Exists(path))
            {
                return (null, default, $"--cursor-file {file} is a folder; name a file.");
            }

            string text;
            try
            {
                text = File.Exists(path) ? File.ReadAllText(path).Trim() : string.Empty;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return (null, default, $"--cursor-file {file} cannot be read: {ex.Message}");
            }

            if (text.Length == 0)
            {
                return (new CursorFile(path), ChangeCursor.Start, null);
            }

            return ChangeCursor.TryParse(text, out var cursor)
                ? (new CursorFile(path), cursor, null)
                : (null, default, $"--cursor-file {file} holds '{Shorten(text.ReplaceLineEndings(" "))}', which is not a change cursor; it must hold one \"cursor\" value printed by pgpipe changes (or be empty to start at the beginning).");
        }

        /// <summary>Replaces the file's content with <paramref name="cursor"/> and a newline.</summary>
        /// <exception cref="IOException">The file could not be written or replaced (reported like any output failure).</exception>
        public void Save(ChangeCursor cursor)
        {
            try
            {
                using (var stream = new FileStream(_temporary, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    stream.Write(Encoding.UTF8.GetBytes(cursor + "\n"));
                    stream.Flush(flushToDisk: true);
                }

                File.Move(_temporary, _path, overwrite: true);
            }
            catch (UnauthorizedAccessException ex)
            {
                throw new IOException($"--cursor-file {_path}: {ex.Message}", ex);
            }
        }
    }
}

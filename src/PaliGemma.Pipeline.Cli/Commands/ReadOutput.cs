using System.CommandLine;
using System.Data.Common;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using PaliGemma.Pipeline.Data;
using Spectre.Console;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>Exit codes of the store-reading commands (status, search, export, changes).</summary>
internal static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>A failure while reading the store or writing the output (connection refused, timeout, malformed stored value, disk full).</summary>
    public const int Failure = 1;

    /// <summary>Bad arguments, bad Database settings, or an unknown run.</summary>
    public const int Usage = 2;

    /// <summary>The store does not exist or is not migrated.</summary>
    public const int StoreUnavailable = 3;
}

/// <summary>What a store-reading command's body receives.</summary>
internal sealed record ReadContext(ResultStore Store, IConfiguration Configuration, TextWriter Output, TextWriter Error, bool OutputIsTerminal);

/// <summary>Opening the store, mapping failures to exit codes, and rendering tables for people or for pipes.</summary>
internal static class ReadOutput
{
    /// <summary>
    /// Opens the existing store named by configuration and <c>--db</c>, runs <paramref name="body"/>, and turns
    /// expected failures into one "error: ..." line on stderr and an <see cref="ExitCodes"/> value.
    /// </summary>
    public static async Task<int> RunAsync(ParseResult result, Option<string?> db, Func<ReadContext, CancellationToken, Task<int>> body, CancellationToken ct)
    {
        var output = result.InvocationConfiguration.Output;
        var error = result.InvocationConfiguration.Error;
        using var loggerFactory = StoreAccess.CreateStderrLoggerFactory();
        try
        {
            var configuration = StoreAccess.BuildConfiguration(result.GetValue(db));
            var store = await StoreAccess.OpenExistingStoreAsync(configuration, loggerFactory, ct).ConfigureAwait(false);
            return await body(new ReadContext(store, configuration, output, error, IsTerminal(output)), ct).ConfigureAwait(false);
        }
        catch (StoreConfigurationException ex)
        {
            await error.WriteLineAsync($"error: {ConnectionStringRedactor.Redact(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (StoreUnavailableException ex)
        {
            await error.WriteLineAsync($"error: {ConnectionStringRedactor.Redact(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.StoreUnavailable;
        }
        catch (Exception ex) when (ex is DbException or TimeoutException || ex.InnerException is DbException or TimeoutException)
        {
            await error.WriteLineAsync($"error: reading the result store failed: {ConnectionStringRedactor.Redact(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (InvalidDataException ex)
        {
            // A stored value that is not what the worker writes (e.g. results.boxes); the message names the row.
            await error.WriteLineAsync($"error: {ConnectionStringRedactor.Redact(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (IOException ex)
        {
            // Writing the output failed: disk full, or the reader of a pipe went away (`pgpipe export x | head`).
            await error.WriteLineAsync($"error: writing the output failed: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    /// <summary>Resolves RUN (name or id) or prints the "unknown run" error; null means the caller returns <see cref="ExitCodes.Usage"/>.</summary>
    public static async Task<RunInfo?> FindRunOrReportAsync(ReadContext context, string nameOrId, CancellationToken ct)
    {
        if (await StoreAccess.FindRunAsync(context.Store, nameOrId, ct).ConfigureAwait(false) is { } run)
        {
            return run;
        }

        await context.Error.WriteLineAsync(
            $"error: no run named '{nameOrId}' (nor with that id) in the result store. List the runs with `pgpipe status`.").ConfigureAwait(false);
        return null;
    }

    /// <summary>True only for the real console attached to a terminal: captured writers and pipes get plain text.</summary>
    public static bool IsTerminal(TextWriter output) => ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;

    /// <summary>
    /// Writes a table: a Spectre.Console table on a terminal, else a header line and rows with columns padded to
    /// a common width and separated by two spaces (stable for grep, cut and awk; no colour codes).
    /// <paramref name="terminalColumns"/> picks the columns shown on a terminal (all when null), so a wide listing
    /// fits a screen; pipes always get every column.
    /// </summary>
    public static async Task WriteTableAsync(TextWriter output, bool terminal, IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows,
        ISet<int>? rightAligned = null, IReadOnlyList<int>? terminalColumns = null)
    {
        if (terminal)
        {
            var shown = terminalColumns ?? Enumerable.Range(0, headers.Count).ToList();
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var c in shown)
            {
                var column = new TableColumn(Markup.Escape(headers[c]));
                table.AddColumn(rightAligned?.Contains(c) == true ? column.RightAligned() : column);
            }

            foreach (var row in rows)
            {
                table.AddRow(shown.Select(c => new Text(row[c])).ToArray());
            }

            console.Write(table);
            return;
        }

        var widths = new int[headers.Count];
        foreach (var line in rows.Prepend(headers))
        {
            for (var c = 0; c < widths.Length; c++)
            {
                widths[c] = Math.Max(widths[c], line[c].Length);
            }
        }

        foreach (var line in rows.Prepend(headers))
        {
            var sb = new StringBuilder();
            for (var c = 0; c < widths.Length; c++)
            {
                var last = c == widths.Length - 1;
                var cell = line[c];
                if (rightAligned?.Contains(c) == true)
                {
                    sb.Append(cell.PadLeft(widths[c]));
                }
                else
                {
                    sb.Append(last ? cell : cell.PadRight(widths[c]));
                }

                if (!last)
                {
                    sb.Append("  ");
                }
            }

            await output.WriteLineAsync(sb.ToString().TrimEnd()).ConfigureAwait(false);
        }
    }

    /// <summary>Formats a whole count with invariant digits.</summary>
    public static string Count(long value) => value.ToString(CultureInfo.InvariantCulture);
}

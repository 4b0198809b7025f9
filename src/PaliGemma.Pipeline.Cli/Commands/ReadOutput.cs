using System.CommandLine;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Data;
using Spectre.Console;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What a store-reading command's body receives.</summary>
internal sealed record ReadContext(ResultStore Store, IConfiguration Configuration, CommandContext Command)
{
    /// <summary>Results.</summary>
    public TextWriter Output => Command.Output;

    /// <summary>Progress, notes and logs.</summary>
    public TextWriter Error => Command.Error;

    /// <summary>True for the real stdout on a terminal.</summary>
    public bool OutputIsTerminal => Command.OutputIsTerminal;
}

/// <summary>Opening the store, mapping failures to exit codes, and rendering tables for people or for pipes.</summary>
internal static class ReadOutput
{
    /// <summary>
    /// Opens the existing store named by configuration and <c>--db</c> and runs <paramref name="body"/> inside
    /// <see cref="CommandRunner"/>, which turns failures into one "error: ..." line and an <see cref="ExitCodes"/> value.
    /// </summary>
    /// <param name="result">The parse result (writers and <paramref name="db"/>).</param>
    /// <param name="db">The command's <c>--db</c> option.</param>
    /// <param name="body">The command's work against the open store.</param>
    /// <param name="ct">Cancelled by SIGINT/SIGTERM.</param>
    /// <param name="validate">Checks of the arguments, run before the store is opened; throws <see cref="UsageException"/>.</param>
    public static Task<int> RunAsync(ParseResult result, Option<string?> db, Func<ReadContext, CancellationToken, Task<int>> body, CancellationToken ct, Action? validate = null) =>
        CommandRunner.RunAsync(result, async (c, token) =>
        {
            validate?.Invoke();
            using var loggerFactory = c.CreateLoggerFactory();
            var configuration = StoreAccess.BuildConfiguration(result.GetValue(db), c.Error);
            var store = await StoreAccess.OpenExistingStoreAsync(configuration, loggerFactory, token).ConfigureAwait(false);
            try
            {
                return await body(new ReadContext(store, configuration, c), token).ConfigureAwait(false);
            }
            catch (InvalidDataException ex)
            {
                // Read back from the store, a value that is not what the worker writes (e.g. results.boxes); the message
                // names the row. Elsewhere the same exception means a broken model file, a usage error.
                throw new StoredValueException(ex.Message, ex);
            }
        }, ct);

    /// <summary>Resolves RUN (name or id).</summary>
    /// <exception cref="UsageException">No run has that name or id.</exception>
    public static async Task<RunInfo> FindRunAsync(ReadContext context, string nameOrId, CancellationToken ct)
    {
        if (await StoreAccess.FindRunAsync(context.Store, nameOrId, ct).ConfigureAwait(false) is { } run)
        {
            return run;
        }

        throw new UsageException($"no run named '{nameOrId}' (nor with that id) in the result store. List the runs with `pgpipe status`.");
    }

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

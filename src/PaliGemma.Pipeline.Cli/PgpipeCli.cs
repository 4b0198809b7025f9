using System.CommandLine;
using PaliGemma.Pipeline.Cli.Commands;
using PaliGemma.Pipeline.Cli.Errors;

namespace PaliGemma.Pipeline.Cli;

/// <summary>The pgpipe command tree.</summary>
public static class PgpipeCli
{
    /// <summary>Parses and runs a command line on the console.</summary>
    public static Task<int> InvokeAsync(string[] args) => InvokeAsync(args, null);

    /// <summary>
    /// Parses and runs a command line with <paramref name="configuration"/>'s writers (the console's when null). A
    /// command line that does not parse prints the parser's errors and exits with <see cref="ExitCodes.Usage"/>.
    /// </summary>
    public static async Task<int> InvokeAsync(string[] args, InvocationConfiguration? configuration)
    {
        var parseResult = Build().Parse(args);
        configuration ??= parseResult.InvocationConfiguration;
        if (parseResult.CommandResult.Command.Name == "worker")
        {
            // A worker's SIGTERM and Ctrl+C belong to its generic host, which drains: stops taking messages, finishes
            // and acks the batch in hand (up to Worker:MaxBatchDurationMs), then exits 0. System.CommandLine's own
            // handler would end the process 2 s after the signal with exit code 143, abandoning a longer batch.
            configuration.ProcessTerminationTimeout = null;
        }

        var exit = await parseResult.InvokeAsync(configuration).ConfigureAwait(false);
        // System.CommandLine answers a parse error with 1, which pgpipe keeps for failed work.
        return parseResult.Errors.Count > 0 && exit == 1 ? ExitCodes.Usage : exit;
    }

    /// <summary>Builds the root command with every subcommand.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("pgpipe: turn image catalogs into searchable text with PaliGemma 2 on ONNX Runtime.");
        root.Add(InferCommand.Create());
        root.Add(EnqueueCommand.Create());
        root.Add(WorkerCommand.Create());
        root.Add(MigrateCommand.Create());
        root.Add(RunCommand.Create());
        root.Add(BenchCommand.Create());
        root.Add(StatusCommand.Create());
        root.Add(SearchCommand.Create());
        root.Add(ExportCommand.Create());
        root.Add(ChangesCommand.Create());
        root.Add(ServeCommand.Create());
        root.Add(ModelsCommand.Create());
        return root;
    }
}

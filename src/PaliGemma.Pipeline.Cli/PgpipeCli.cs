using System.CommandLine;
using PaliGemma.Pipeline.Cli.Commands;

namespace PaliGemma.Pipeline.Cli;

/// <summary>The pgpipe command tree.</summary>
public static class PgpipeCli
{
    /// <summary>Parses and runs a command line.</summary>
    public static Task<int> InvokeAsync(string[] args)
    {
        var parseResult = Build().Parse(args);
        if (parseResult.CommandResult.Command.Name == "worker")
        {
            // A worker's SIGTERM and Ctrl+C belong to its generic host, which drains: stops taking messages, finishes
            // and acks the batch in hand (up to Worker:MaxBatchDurationMs), then exits 0. System.CommandLine's own
            // handler would end the process 2 s after the signal with exit code 143, abandoning a longer batch.
            parseResult.InvocationConfiguration.ProcessTerminationTimeout = null;
        }

        return parseResult.InvokeAsync();
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

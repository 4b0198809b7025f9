using System.CommandLine;
using PaliGemma.Pipeline.Cli.Commands;

namespace PaliGemma.Pipeline.Cli;

/// <summary>The pgpipe command tree.</summary>
public static class PgpipeCli
{
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
        return root;
    }
}

using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Web;

/// <summary>
/// The command line that retries a run's failures: a new pass of the same run re-lists its source, skips every
/// (object, task) that has a result and enqueues the rest, failures included. Embedded stores use <c>pgpipe run</c>
/// (in-process worker); Postgres stores use <c>pgpipe enqueue</c> for the running workers.
/// </summary>
internal static class RetryCommand
{
    public static string For(RunInfo run, DatabaseProvider provider, string? sqliteFile)
    {
        // --model takes the id (a local run: the model folder, whose name is the id) and --dtype the rest of the key.
        var model = ModelKey.Parse(run.Model);
        var command = new PgpipeCommandLine(provider == DatabaseProvider.Sqlite ? "run" : "enqueue")
            .Argument(run.Source).Option("run", run.Name).Option("model", model.Id).Option("dtype", model.Dtype);
        foreach (var task in run.Tasks)
        {
            command.Option("task", task);
        }

        if (provider == DatabaseProvider.Sqlite && sqliteFile is not null)
        {
            command.Option("db", sqliteFile);
        }

        return command.ToString();
    }
}

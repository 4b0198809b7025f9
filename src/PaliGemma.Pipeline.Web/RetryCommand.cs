using System.Text;
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
        // Stored model keys are "id:dtype"; --model takes the id (a local run: the model folder, whose name is the id).
        var colon = run.Model.LastIndexOf(':');
        var (id, dtype) = colon > 0 ? (run.Model[..colon], run.Model[(colon + 1)..]) : (run.Model, "fp32");
        var s = new StringBuilder(provider == DatabaseProvider.Sqlite ? "pgpipe run " : "pgpipe enqueue ");
        s.Append(Quote(run.Source)).Append(" --run ").Append(Quote(run.Name)).Append(" --model ").Append(Quote(id)).Append(" --dtype ").Append(Quote(dtype));
        foreach (var task in run.Tasks)
        {
            s.Append(" --task ").Append(Quote(task));
        }

        if (provider == DatabaseProvider.Sqlite && sqliteFile is not null)
        {
            s.Append(" --db ").Append(Quote(sqliteFile));
        }

        return s.ToString();
    }

    /// <summary>POSIX shell quoting: bare when every character is safe, else single quotes with ' written as '\''.</summary>
    internal static string Quote(string value)
    {
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "_-./:@%+=,".Contains(c, StringComparison.Ordinal)))
        {
            return value;
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}

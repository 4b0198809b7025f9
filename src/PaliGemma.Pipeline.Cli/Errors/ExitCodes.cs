namespace PaliGemma.Pipeline.Cli.Errors;

/// <summary>
/// Every pgpipe exit code, one meaning each (the README's "Exit codes" table). <see cref="CliErrors"/> is the one
/// place an exception becomes one of them.
/// </summary>
internal static class ExitCodes
{
    /// <summary>Done; also a follower or server ended by SIGINT/SIGTERM after flushing what it printed.</summary>
    public const int Ok = 0;

    /// <summary>
    /// The work ran and part of it failed: images or rows that failed (run, infer), blobs that did not verify, a
    /// malformed stored value, writing the output, a download the Hub broke off. Details are on stderr and in the results.
    /// </summary>
    public const int Failure = 1;

    /// <summary>
    /// Usage or configuration: fix the command line or the settings. Bad arguments, invalid settings, credentials a
    /// service refused (Postgres 28P01, RabbitMQ ACCESS_REFUSED, S3 signature), a missing model folder, an unknown run.
    /// </summary>
    public const int Usage = 2;

    /// <summary>The result store does not exist or is not migrated: run <c>pgpipe migrate</c>.</summary>
    public const int StoreUnavailable = 3;

    /// <summary>A service did not answer (Postgres, RabbitMQ, S3, the Hub): connection refused, timed out, unknown host. Retry once it is up.</summary>
    public const int ServiceUnavailable = 4;

    /// <summary><c>pgpipe run</c> stopped waiting: no image finished within <c>--stall-timeout</c>. Re-running the same command resumes.</summary>
    public const int Stalled = 5;

    /// <summary>An exception no rule classifies: a bug. The full exception is printed for the report.</summary>
    public const int InternalError = 70;
}

using PaliGemma.Pipeline.Cli;

var parseResult = PgpipeCli.Build().Parse(args);
if (parseResult.CommandResult.Command.Name == "worker")
{
    // A worker's SIGTERM and Ctrl+C belong to its generic host, which drains: stops taking messages, finishes and acks
    // the batch in hand (up to Worker:MaxBatchDurationMs), then exits 0. System.CommandLine's own handler would end the
    // process 2 s after the signal with exit code 143, abandoning a longer batch mid-flight.
    parseResult.InvocationConfiguration.ProcessTerminationTimeout = null;
}

return await parseResult.InvokeAsync().ConfigureAwait(false);

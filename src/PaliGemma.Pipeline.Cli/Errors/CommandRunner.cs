using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Cli.Errors;

/// <summary>
/// What every command body receives: the invocation's writers (stdout for results, stderr for progress, logs and
/// errors) instead of <see cref="Console"/>, so a test runs any command in-process with writers of its own.
/// </summary>
internal sealed class CommandContext(TextWriter output, TextWriter error)
{
    /// <summary>Results: what a script reads.</summary>
    /// <remarks>Synchronized, as the console's writers are: progress reporters write from thread-pool threads.</remarks>
    public TextWriter Output { get; } = TextWriter.Synchronized(output);

    /// <summary>Progress lines, logs and errors (synchronized like <see cref="Output"/>).</summary>
    public TextWriter Error { get; } = TextWriter.Synchronized(error);

    /// <summary>True only for the real stdout on a terminal: captured writers and pipes get plain text.</summary>
    public bool OutputIsTerminal => ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;

    /// <summary>True only for the real stderr on a terminal, where progress may draw bars.</summary>
    public bool ErrorIsTerminal => ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;

    private bool ErrorIsConsole => ReferenceEquals(error, Console.Error);

    /// <summary>A logger factory whose every line goes to <see cref="Error"/>.</summary>
    public ILoggerFactory CreateLoggerFactory(LogLevel minimum = LogLevel.Warning) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(minimum);
        AddLogging(b);
    });

    /// <summary>
    /// Sends a host's or factory's logs to <see cref="Error"/>: the console logger (single lines on stderr) when that
    /// is the process's stderr, else a plain writer, so an in-process caller captures them.
    /// </summary>
    public void AddLogging(ILoggingBuilder logging, bool hostFormat = false)
    {
        ArgumentNullException.ThrowIfNull(logging);
        if (ErrorIsConsole)
        {
            if (!hostFormat)
            {
                logging.AddSimpleConsole(o => o.SingleLine = true);
                logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            }

            // A host built by PipelineConfiguration already logs to stderr in its own format.
            return;
        }

        logging.ClearProviders();
        logging.AddProvider(new WriterLoggerProvider(Error));
    }
}

/// <summary>
/// Runs a command body and turns what it throws into an exit code and one "error: ..." line (<see cref="CliErrors"/>).
/// Every command's action goes through here; none has a catch list of its own.
/// </summary>
internal static class CommandRunner
{
    /// <summary>
    /// Runs <paramref name="body"/> with the invocation's writers. Cancellation by the caller's token (SIGINT/SIGTERM)
    /// propagates unchanged, so System.CommandLine and each command keep their own signal behaviour.
    /// </summary>
    public static async Task<int> RunAsync(ParseResult result, Func<CommandContext, CancellationToken, Task<int>> body, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(body);
        var context = new CommandContext(result.InvocationConfiguration.Output, result.InvocationConfiguration.Error);
        try
        {
            return await body(context, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            if (CliErrors.Describe(ex) is not { } error)
            {
                // Not an operator mistake nor an outage: a bug, reported with everything needed to fix it.
                await context.Error.WriteLineAsync($"error: internal error, please report it: {ex}").ConfigureAwait(false);
                return ExitCodes.InternalError;
            }

            await context.Error.WriteLineAsync("error: " + error.Message).ConfigureAwait(false);
            return error.ExitCode;
        }
    }

    /// <summary>Sets <paramref name="command"/>'s action to run <paramref name="body"/> through <see cref="RunAsync"/>.</summary>
    public static void SetBody(this Command command, Func<ParseResult, CommandContext, CancellationToken, Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.SetAction((result, ct) => RunAsync(result, (c, token) => body(result, c, token), ct));
    }
}

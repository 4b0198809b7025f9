using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Cli.Errors;

/// <summary>
/// Log lines ("warn: Category[id] message") on a <see cref="TextWriter"/>, for commands run with writers other than the
/// console's (tests in-process). Writes are serialised: the writer need not be thread-safe.
/// </summary>
internal sealed class WriterLoggerProvider(TextWriter writer) : ILoggerProvider
{
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, Logger> _loggers = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, name => new Logger(this, name));

    /// <inheritdoc />
    public void Dispose()
    {
        // The writer belongs to the caller.
    }

    private void Write(string line)
    {
        lock (_gate)
        {
            writer.WriteLine(line);
        }
    }

    private sealed class Logger(WriterLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var message = formatter(state, exception);
            provider.Write(exception is null ? $"{level}: {category}[{eventId.Id}] {message}" : $"{level}: {category}[{eventId.Id}] {message} {exception}");
        }
    }
}

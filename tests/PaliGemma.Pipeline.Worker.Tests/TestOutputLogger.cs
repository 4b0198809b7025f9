using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>Where scenario logs go: the running test's output, once it is known.</summary>
public interface ITestOutputHelperSink
{
    void WriteLine(string line);
}

/// <summary>Adapts xunit's per-test output; lines written after the test ended are dropped.</summary>
public sealed class XunitSink(ITestOutputHelper output) : ITestOutputHelperSink
{
    public void WriteLine(string line)
    {
        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test already finished; xunit refuses late output.
        }
    }
}

/// <summary>Routes the worker's logs into the test output, so a failing scenario shows what the consumer did.</summary>
public sealed class TestOutputLoggerProvider(ITestOutputHelperSink sink) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(sink, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(ITestOutputHelperSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && !category.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                sink.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception.GetType().Name + ": " + exception.Message)}");
            }
        }
    }
}

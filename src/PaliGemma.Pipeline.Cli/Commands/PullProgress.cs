using System.Globalization;
using PaliGemma.Hub;
using Spectre.Console;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>Runs a pull with progress: Spectre.Console bars on a terminal, plain lines otherwise.</summary>
internal interface IPullProgressDisplay
{
    /// <summary>Runs <paramref name="work"/>, giving it the progress sink to report to.</summary>
    Task<T> RunAsync<T>(Func<IPullProgress, Task<T>> work);
}

/// <summary>Chooses the progress display for a writer.</summary>
internal static class PullProgressFactory
{
    /// <summary>
    /// Bars (one per file plus a total, with bytes/s and ETA) when <paramref name="interactive"/>; otherwise one line
    /// per finished file and a summary, so logs and CI output stay readable.
    /// </summary>
    public static IPullProgressDisplay Create(TextWriter writer, bool interactive) =>
        interactive ? new SpectrePullProgress(writer) : new LinePullProgress(writer);

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}

/// <summary>Plain lines for logs: what was planned, each file as it completes, and a total with the rate.</summary>
internal sealed class LinePullProgress(TextWriter writer) : IPullProgressDisplay, IPullProgress
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);
    private readonly System.Diagnostics.Stopwatch _clock = new();
    private long _downloadedFiles;

    public async Task<T> RunAsync<T>(Func<IPullProgress, Task<T>> work)
    {
        _clock.Start();
        var result = await work(this).ConfigureAwait(false);
        lock (_gate)
        {
            if (_sizes.Count > 0)
            {
                var total = _sizes.Values.Sum();
                var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{_sizes.Count} files ({PullProgressFactory.Bytes(total)}) present; {_downloadedFiles} downloaded in {seconds:0.0} s"));
            }
        }

        return result;
    }

    public void Planned(IReadOnlyList<HubTreeFile> files)
    {
        lock (_gate)
        {
            foreach (var f in files)
            {
                _sizes[f.Path] = f.Size;
            }

            writer.WriteLine($"pulling {files.Count} files ({PullProgressFactory.Bytes(files.Sum(f => f.Size))})");
        }
    }

    public void Advanced(string path, long bytesSoFar)
    {
        // Lines only at completion: a log is no place for a moving bar.
    }

    public void Completed(string path, bool downloaded)
    {
        lock (_gate)
        {
            if (downloaded)
            {
                _downloadedFiles++;
            }

            var size = _sizes.GetValueOrDefault(path);
            writer.WriteLine($"  {(downloaded ? "downloaded" : "cached    ")} {path} ({PullProgressFactory.Bytes(size)})");
        }
    }
}

/// <summary>Spectre.Console bars: one per file and a total, each with bytes, bytes/s and time remaining.</summary>
internal sealed class SpectrePullProgress(TextWriter writer) : IPullProgressDisplay
{
    public async Task<T> RunAsync<T>(Func<IPullProgress, Task<T>> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var sink = new Sink(ctx);
                result = await work(sink).ConfigureAwait(false);
                sink.Finish();
            }).ConfigureAwait(false);
        return result;
    }

    private sealed class Sink(ProgressContext context) : IPullProgress
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, (ProgressTask Task, long Value)> _files = new(StringComparer.Ordinal);
        private ProgressTask? _total;

        public void Planned(IReadOnlyList<HubTreeFile> files)
        {
            lock (_gate)
            {
                _total = context.AddTask("[bold]total[/]", maxValue: Math.Max(1, files.Sum(f => f.Size)));
                foreach (var f in files)
                {
                    _files[f.Path] = (context.AddTask(Markup.Escape(f.Path), maxValue: Math.Max(1, f.Size)), 0);
                }
            }
        }

        public void Advanced(string path, long bytesSoFar)
        {
            lock (_gate)
            {
                if (_files.TryGetValue(path, out var entry))
                {
                    _total?.Increment(bytesSoFar - entry.Value);
                    entry.Task.Value = bytesSoFar;
                    _files[path] = (entry.Task, bytesSoFar);
                }
            }
        }

        public void Completed(string path, bool downloaded)
        {
            lock (_gate)
            {
                if (_files.TryGetValue(path, out var entry))
                {
                    entry.Task.Value = entry.Task.MaxValue;
                    entry.Task.StopTask();
                }
            }
        }

        public void Finish()
        {
            lock (_gate)
            {
                if (_total is not null)
                {
                    _total.Value = _total.MaxValue;
                    _total.StopTask();
                }
            }
        }
    }
}

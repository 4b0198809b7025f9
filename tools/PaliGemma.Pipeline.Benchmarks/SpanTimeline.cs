using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Benchmarks;

/// <summary>
/// Records the spans of S3 (HttpClient), Npgsql and the pipeline's own activity source from its creation until it is
/// disposed, and prints them as one line each, in start order, relative to its creation: where a pass's time went.
/// </summary>
internal sealed class SpanTimeline : IDisposable
{
    private readonly ConcurrentQueue<(string Name, DateTime Start, TimeSpan Duration)> _spans = new();
    private readonly DateTime _origin = DateTime.UtcNow;
    private readonly ActivityListener _listener;

    public SpanTimeline()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Npgsql" or "System.Net.Http" or PipelineMetrics.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => _spans.Enqueue((a.Source.Name + " " + a.DisplayName, a.StartTimeUtc, a.Duration)),
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>Prints every span recorded so far: start (ms after creation), duration (ms) and name.</summary>
    public void Print()
    {
        foreach (var (name, start, duration) in _spans.OrderBy(s => s.Start))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  span {(start - _origin).TotalMilliseconds,9:0.0} ms +{duration.TotalMilliseconds,8:0.0} ms  {name}"));
        }
    }

    public void Dispose() => _listener.Dispose();
}

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// A capped exponential backoff: retry <see cref="RetryLimit"/> times, waiting <see cref="InitialDelayMs"/> before the
/// first retry and doubling up to <see cref="MaxDelayMs"/>. Bound as named options, one name per place that retries
/// (see the constants), each with its own defaults, so an operator can size each for the outages they expect.
/// </summary>
public sealed class RetryPolicyOptions
{
    /// <summary>A worker's batch retried in place after an infrastructure fault (database or storage down).</summary>
    public const string WorkerBatch = "Worker:Retry";

    /// <summary>One object's download retried inside a batch after a transient storage error.</summary>
    public const string WorkerFetch = "Worker:FetchRetry";

    /// <summary>A producer's page (skip lookup, sends, checkpoint) retried after a broker or database fault.</summary>
    public const string ProducerPage = "Producer:Retry";

    /// <summary>Retries after the first attempt; 0 turns retrying off.</summary>
    [Range(0, 100)]
    public int RetryLimit { get; set; }

    /// <summary>Wait before the first retry, in milliseconds.</summary>
    [Range(1, 3_600_000)]
    public int InitialDelayMs { get; set; } = 1000;

    /// <summary>Longest wait between two attempts, in milliseconds.</summary>
    [Range(1, 3_600_000)]
    public int MaxDelayMs { get; set; } = 30_000;

    /// <summary>The waits before each retry, in order.</summary>
    public IReadOnlyList<TimeSpan> Delays()
    {
        var delays = new TimeSpan[RetryLimit];
        double delay = InitialDelayMs;
        for (var i = 0; i < delays.Length; i++)
        {
            delays[i] = TimeSpan.FromMilliseconds(Math.Min(delay, MaxDelayMs));
            delay *= 2;
        }

        return delays;
    }

    /// <summary>
    /// How long after the first failure the last retry starts: an outage shorter than this is ridden out without the
    /// work being given up (attempt durations come on top, so the real coverage is longer).
    /// </summary>
    public TimeSpan Coverage => Delays().Aggregate(TimeSpan.Zero, (sum, d) => sum + d);
}

/// <summary>Registers <see cref="RetryPolicyOptions"/> by name.</summary>
public static class RetryPolicyServiceCollectionExtensions
{
    /// <summary>
    /// Registers the named policy <paramref name="name"/> (one of the <see cref="RetryPolicyOptions"/> constants) with its
    /// defaults, overlaid by the configuration section of the same name and validated at start. Read it with
    /// <c>IOptionsMonitor&lt;RetryPolicyOptions&gt;.Get(name)</c>.
    /// </summary>
    public static IServiceCollection AddRetryPolicy(this IServiceCollection services, string name, int retryLimit, int initialDelayMs, int maxDelayMs)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        services.AddOptions<RetryPolicyOptions>(name)
            .Configure(o =>
            {
                o.RetryLimit = retryLimit;
                o.InitialDelayMs = initialDelayMs;
                o.MaxDelayMs = maxDelayMs;
            })
            .BindConfiguration(name)
            .ValidateDataAnnotations()
            .Validate(o => o.MaxDelayMs >= o.InitialDelayMs, $"{name}:MaxDelayMs must be at least {name}:InitialDelayMs.")
            .ValidateOnStart();
        return services;
    }
}

namespace PaliGemma.Hub;

/// <summary>Retry and timeout policy of <see cref="HubClient"/>.</summary>
public sealed class HubClientOptions
{
    /// <summary>Attempts for a request answered 429 or 5xx (the first try included).</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>Attempts for a request that could not connect at all; few, so an unreachable Hub falls back to the cache quickly.</summary>
    public int MaxConnectAttempts { get; set; } = 2;

    /// <summary>First backoff; doubles per attempt up to <see cref="MaxBackoff"/>, unless Retry-After or RateLimit says otherwise.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest computed backoff.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait a server's Retry-After or RateLimit may impose before we give up instead.</summary>
    public TimeSpan MaxServerDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>TCP connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest time without a byte, on headers or body, before the connection counts as dropped.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Files downloaded at once.</summary>
    public int Parallelism { get; set; } = 4;

    /// <summary>Attempts per file for dropped connections during a download (each resumes with a fresh HEAD and Range).</summary>
    public int MaxDownloadAttempts { get; set; } = 5;
}

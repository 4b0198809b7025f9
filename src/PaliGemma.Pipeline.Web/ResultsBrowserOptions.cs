using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Web;

/// <summary>Settings of the "Serve" configuration section (appsettings.json or <c>Serve__*</c> environment variables).</summary>
public sealed class ResultsBrowserOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Serve";

    /// <summary>Request header that carries <see cref="ApiKey"/>.</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>Shortest API key accepted; a short key could be guessed by an attacker who can reach the port.</summary>
    public const int MinimumSecretLength = 16;

    /// <summary>
    /// Serve:ApiKey. When set, requests from outside loopback must send it in the <c>X-Api-Key</c> header; needed (or
    /// basic auth) before the server may bind anything but loopback.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>Serve:BasicAuthUser, with <see cref="BasicAuthPassword"/>: HTTP basic auth for browsers outside loopback.</summary>
    public string? BasicAuthUser { get; set; }

    /// <summary>Serve:BasicAuthPassword (at least <see cref="MinimumSecretLength"/> characters).</summary>
    public string? BasicAuthPassword { get; set; }

    /// <summary>Serve:MaxImageBytes. Largest object the image and thumbnail endpoints read (default 32 MiB).</summary>
    [Range(1, long.MaxValue)]
    public long MaxImageBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Serve:MaxImagePixels. Largest width x height decoded for a thumbnail (default 64 megapixels).</summary>
    [Range(1, long.MaxValue)]
    public long MaxImagePixels { get; set; } = 64_000_000;

    /// <summary>Serve:ThumbnailSize. Longest side of a thumbnail in pixels (default 256).</summary>
    [Range(16, 2048)]
    public int ThumbnailSize { get; set; } = 256;

    /// <summary>Serve:ThumbnailCacheMegabytes. Memory the thumbnail cache may hold (default 64 MiB); nothing is cached on disk.</summary>
    [Range(1, 65_536)]
    public int ThumbnailCacheMegabytes { get; set; } = 64;

    /// <summary>
    /// Serve:DocumentCacheBytes. Local disk the copies of documents whose pages are shown may take (default 1 GiB); the
    /// least recently used copy is deleted first. One document may be as large as Documents:MaxBytes.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long DocumentCacheBytes { get; set; } = 1L << 30;

    /// <summary>Serve:ThroughputWindowMinutes. Throughput is the results a run wrote per minute over this window (default 5).</summary>
    [Range(1, 1440)]
    public int ThroughputWindowMinutes { get; set; } = 5;

    /// <summary>True when an API key or a basic-auth user and password are configured.</summary>
    public bool HasCredentials => !string.IsNullOrEmpty(ApiKey) || (!string.IsNullOrEmpty(BasicAuthUser) && !string.IsNullOrEmpty(BasicAuthPassword));
}

/// <summary>Validates <see cref="ResultsBrowserOptions"/> with messages that name the setting.</summary>
public sealed class ResultsBrowserOptionsValidator : IValidateOptions<ResultsBrowserOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ResultsBrowserOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.ApiKey is { } key && key.Length < ResultsBrowserOptions.MinimumSecretLength)
        {
            failures.Add($"{ResultsBrowserOptions.SectionName}:ApiKey has {key.Length} characters; use at least {ResultsBrowserOptions.MinimumSecretLength} random characters (e.g. `openssl rand -hex 24`).");
        }

        if (string.IsNullOrEmpty(options.BasicAuthUser) != string.IsNullOrEmpty(options.BasicAuthPassword))
        {
            failures.Add($"{ResultsBrowserOptions.SectionName}:BasicAuthUser and {ResultsBrowserOptions.SectionName}:BasicAuthPassword must be set together.");
        }
        else if (options.BasicAuthUser is { } user && user.Contains(':', StringComparison.Ordinal))
        {
            failures.Add($"{ResultsBrowserOptions.SectionName}:BasicAuthUser must not contain ':' (HTTP basic auth separates user and password with it).");
        }

        if (options.BasicAuthPassword is { Length: > 0 } password && password.Length < ResultsBrowserOptions.MinimumSecretLength)
        {
            failures.Add($"{ResultsBrowserOptions.SectionName}:BasicAuthPassword has {password.Length} characters; use at least {ResultsBrowserOptions.MinimumSecretLength}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The server would be reachable beyond loopback without credentials, or its settings are invalid.</summary>
public sealed class ResultsBrowserConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ResultsBrowserConfigurationException(string message)
        : base(message)
    {
    }
}

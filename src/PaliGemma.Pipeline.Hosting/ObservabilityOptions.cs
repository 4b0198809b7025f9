using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>Metrics, traces and health endpoints, bound from the "Observability" section.</summary>
public sealed class ObservabilityOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Observability";

    /// <summary>
    /// Port of the HTTP listener serving /metrics (Prometheus), /health/live and /health/ready. 0 disables it.
    /// Configurable because two workers share one machine in tests and compose.
    /// </summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    /// <summary>Address the listener binds (0.0.0.0 in containers, 127.0.0.1 for local runs).</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>OTLP endpoint (e.g. http://otel-collector:4317) for traces and metrics; empty disables OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Service name reported in traces and metrics.</summary>
    public string ServiceName { get; set; } = "pgpipe";

    /// <summary>
    /// <see cref="OtlpEndpoint"/> as a URI, or null when OTLP export is off. The exporters are wired while the host is
    /// being built, before options validation runs, so a malformed value is reported here, as the same one-line
    /// configuration error validation would give.
    /// </summary>
    /// <exception cref="OptionsValidationException">The value is not an absolute http or https URI.</exception>
    public Uri? ParseOtlpEndpoint()
    {
        if (string.IsNullOrWhiteSpace(OtlpEndpoint))
        {
            return null;
        }

        return Uri.TryCreate(OtlpEndpoint.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new OptionsValidationException(SectionName, typeof(ObservabilityOptions),
                [$"{SectionName}:OtlpEndpoint '{OtlpEndpoint}' is not an absolute http or https URI, e.g. http://otel-collector:4317; leave it empty to turn OTLP export off."]);
    }
}

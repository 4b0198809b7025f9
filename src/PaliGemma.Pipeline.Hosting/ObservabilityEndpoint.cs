using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// A small HTTP listener beside the host serving /metrics, /health/live and /health/ready. It is its own Kestrel
/// app rather than the host itself, so hosts stay plain generic hosts and the port can be 0 (off) in one-shot
/// commands and tests.
/// </summary>
internal sealed partial class ObservabilityEndpoint(
    IOptions<ObservabilityOptions> options,
    ReadinessState readiness,
    IHostApplicationLifetime lifetime,
    ILogger<ObservabilityEndpoint> logger) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(readiness.MarkDraining);
        var o = options.Value;
        if (o.Port == 0)
        {
            return;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{o.BindAddress}:{o.Port}");
        _app = builder.Build();
        _app.MapMetrics("/metrics");
        _app.MapGet("/health/live", () => Results.Text("alive"));
        _app.MapGet("/health/ready", () => readiness.IsReady
            ? Results.Text("ready")
            : Results.Text(readiness.Reason, statusCode: StatusCodes.Status503ServiceUnavailable));
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        Listening(logger, o.BindAddress, o.Port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Serving /metrics and /health on http://{Address}:{Port}")]
    private static partial void Listening(ILogger logger, string address, int port);
}

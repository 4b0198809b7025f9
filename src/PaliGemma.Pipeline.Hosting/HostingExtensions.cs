using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>Service defaults every pgpipe host shares.</summary>
public static class HostingExtensions
{
    /// <summary>
    /// Logging (stderr, with scopes), options for messaging and observability, metrics, traces, readiness and the
    /// observability endpoint. Configuration sources come from <see cref="PipelineConfiguration"/>.
    /// </summary>
    public static IHostApplicationBuilder AddPipelineDefaults(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Logging.ClearProviders();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        // Logs go to stderr so stdout stays for command output; scopes carry run and object ids.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.IncludeScopes = true;
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        builder.Services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MessagingOptions>, MessagingOptionsValidator>());
        builder.Services.AddOptions<ObservabilityOptions>().BindConfiguration(ObservabilityOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<ReadinessState>();
        builder.Services.AddMetrics();
        builder.Services.AddSingleton<PipelineMetrics>();
        // PipelineMetrics names its Prometheus series itself; the meter adapter would export the same data a second
        // time under fixed "{meter}_{instrument}" names, and the process/.NET runtime defaults stay on.
        Prometheus.Metrics.SuppressDefaultMetrics(new Prometheus.SuppressDefaultMetricOptions { SuppressMeters = true, SuppressEventCounters = true });
        builder.Services.AddHostedService<ObservabilityEndpoint>();

        var observability = builder.Configuration.GetSection(ObservabilityOptions.SectionName).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        if (observability.ParseOtlpEndpoint() is { } endpoint)
        {
            builder.Services.AddOpenTelemetry()
                .ConfigureResource(r => r.AddService(observability.ServiceName))
                .WithTracing(t => t.AddSource(PipelineMetrics.Name, "MassTransit").AddOtlpExporter(o => o.Endpoint = endpoint))
                .WithMetrics(m => m.AddMeter(PipelineMetrics.Name).AddOtlpExporter(o => o.Endpoint = endpoint));
        }

        return builder;
    }

    /// <summary>
    /// Registers MassTransit on the configured transport. <paramref name="configureConsumers"/> adds consumers
    /// (workers); producers add none. RabbitMQ publisher confirms stay on (MassTransit's default), so a Send
    /// completes only once the broker has the message.
    /// </summary>
    public static IServiceCollection AddPipelineBus(this IServiceCollection services, IConfiguration configuration, Action<IBusRegistrationConfigurator>? configureConsumers = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var messaging = configuration.GetSection(MessagingOptions.SectionName).Get<MessagingOptions>() ?? new MessagingOptions();
        services.AddMassTransit(x =>
        {
            configureConsumers?.Invoke(x);
            if (messaging.Transport == TransportKind.RabbitMq)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    var o = context.GetRequiredService<IOptions<MessagingOptions>>().Value;
                    cfg.Host(o.Host, (ushort)o.Port, o.VirtualHost, h =>
                    {
                        h.Username(o.Username);
                        h.Password(o.ResolvePassword());
                        h.PublisherConfirmation = true;
                        if (o.UseSsl)
                        {
                            h.UseSsl(s => RabbitMqTls.Configure(s, o));
                        }
                    });
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
        });
        return services;
    }
}

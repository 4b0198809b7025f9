using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>The OTLP endpoint is wired while a host is built, so its errors must read like every other configuration error.</summary>
public sealed class ObservabilityOptionsTests
{
    [Theory]
    [InlineData("otel-collector:4317")]
    [InlineData("not a uri")]
    [InlineData("ftp://collector:4317")]
    public void A_malformed_otlp_endpoint_is_a_one_line_configuration_error_naming_the_setting(string endpoint)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Observability:OtlpEndpoint"] = endpoint });

        var error = Assert.Throws<OptionsValidationException>(() => builder.AddPipelineDefaults());

        var line = Assert.Single(error.Failures);
        Assert.Contains("Observability:OtlpEndpoint", line, StringComparison.Ordinal);
        Assert.Contains(endpoint, line, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', line);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData(" ", null)]
    [InlineData("http://otel-collector:4317", "http://otel-collector:4317/")]
    [InlineData("https://collector.example:4318/", "https://collector.example:4318/")]
    public void Empty_turns_export_off_and_http_uris_are_accepted(string? endpoint, string? expected) =>
        Assert.Equal(expected, new ObservabilityOptions { OtlpEndpoint = endpoint }.ParseOtlpEndpoint()?.ToString());
}

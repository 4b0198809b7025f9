using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// The one order configuration is read in, for every command: built-in defaults of the command, appsettings.json
/// beside the binary, appsettings.json in the working directory, environment variables (Section__Key), then the
/// command line's explicit flags.
/// </summary>
public static class PipelineConfiguration
{
    /// <summary>Adds the pipeline's configuration sources in precedence order (later wins).</summary>
    public static IConfigurationBuilder AddPipelineSources(this IConfigurationBuilder builder,
        IReadOnlyDictionary<string, string?>? defaults = null, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (defaults is { Count: > 0 })
        {
            builder.AddInMemoryCollection(defaults);
        }

        builder.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        builder.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true, reloadOnChange: false);
        builder.AddEnvironmentVariables();
        if (overrides is { Count: > 0 })
        {
            builder.AddInMemoryCollection(overrides);
        }

        return builder;
    }

    /// <summary>A host builder with exactly the pipeline's configuration sources and service defaults.</summary>
    public static HostApplicationBuilder CreateHostBuilder(IReadOnlyDictionary<string, string?>? defaults = null, IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = Directory.GetCurrentDirectory() });
        builder.Configuration.AddPipelineSources(defaults, overrides);
        builder.AddPipelineDefaults();
        return builder;
    }
}

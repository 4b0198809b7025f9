using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Data;

/// <summary>Registers the result store.</summary>
public static class DataServiceCollectionExtensions
{
    /// <summary>
    /// Binds and validates the "Database" section (validated on start), and registers
    /// <see cref="PipelineDbContextFactory"/> and <see cref="ResultStore"/> as singletons.
    /// Migrations are not applied here; call <see cref="ResultStore.MigrateAsync"/> explicitly.
    /// </summary>
    public static IServiceCollection AddPipelineData(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DatabaseOptions>()
            .Bind(configuration.GetSection(DatabaseOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DatabaseOptions>, DatabaseOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<PipelineDbContextFactory>();
        services.TryAddSingleton<ResultStore>();
        return services;
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>Registers catalog sources with a host.</summary>
public static class CatalogServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="S3Options"/> ("S3") and <see cref="CatalogOptions"/> ("Catalog"), validated at start-up, and
    /// registers <see cref="CatalogSourceFactory"/> as a singleton.
    /// </summary>
    public static IServiceCollection AddCatalog(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<S3Options>().BindConfiguration(S3Options.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<S3Options>, S3OptionsValidator>());
        services.AddOptions<CatalogOptions>().BindConfiguration(CatalogOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<CatalogSourceFactory>(sp => ActivatorUtilities.CreateInstance<CatalogSourceFactory>(
            sp, sp.GetRequiredService<IOptions<S3Options>>(), sp.GetRequiredService<IOptions<CatalogOptions>>()));
        return services;
    }
}

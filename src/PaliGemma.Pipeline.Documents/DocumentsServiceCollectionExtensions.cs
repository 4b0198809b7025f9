using Microsoft.Extensions.DependencyInjection;

namespace PaliGemma.Pipeline.Documents;

/// <summary>Registration of the document options.</summary>
public static class DocumentsServiceCollectionExtensions
{
    /// <summary>Binds <see cref="DocumentOptions"/> from the <c>Documents</c> section and validates it at start-up.</summary>
    public static IServiceCollection AddDocuments(this IServiceCollection services)
    {
        services.AddOptions<DocumentOptions>().BindConfiguration(DocumentOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }
}

using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Documents;

namespace PaliGemma.Pipeline.Web;

/// <summary>
/// Wires the results browser into an ASP.NET Core host: read-only API, OpenAPI document at /openapi/v1.json, the page at
/// /, the access guard and the security headers. <c>pgpipe serve</c> uses <see cref="CreateServer"/>; tests can host the
/// same pieces with <see cref="AddResultsBrowser"/> and <see cref="UseResultsBrowser"/>.
/// </summary>
public static class ResultsBrowserApp
{
    /// <summary>The loopback address <c>pgpipe serve</c> binds when no --urls are given.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    // No inline script or style anywhere: data from the model or from object keys can never become code.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>
    /// Registers the options ("Serve" section, validated at start), the store, the catalog sources (S3 settings from
    /// "S3"; objects larger than Serve:MaxImageBytes are refused, documents larger than Documents:MaxBytes), the document
    /// limits ("Documents") and the image service.
    /// </summary>
    public static IServiceCollection AddResultsBrowser(this IServiceCollection services, IConfiguration configuration, BrowserStore store)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<ResultsBrowserOptions>().Bind(configuration.GetSection(ResultsBrowserOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ResultsBrowserOptions>, ResultsBrowserOptionsValidator>());
        services.AddOptions<S3Options>().Bind(configuration.GetSection(S3Options.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<S3Options>, S3OptionsValidator>());
        services.AddSingleton(store);
        services.AddSingleton(sp => new CatalogSourceFactory(
            sp.GetRequiredService<IOptions<S3Options>>(),
            Options.Create(new CatalogOptions { MaxObjectBytes = sp.GetRequiredService<IOptions<ResultsBrowserOptions>>().Value.MaxImageBytes }),
            sp.GetRequiredService<ILoggerFactory>()));
        // Documents: the same section the worker reads, so a document it could open can be shown within the same limits.
        services.AddOptions<DocumentOptions>().Bind(configuration.GetSection(DocumentOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<DocumentCopies>();
        services.AddSingleton<ImageService>();
        services.AddRouting();
        services.AddOpenApi();
        return services;
    }

    /// <summary>Security headers, the access guard, then the API, the OpenAPI document and the page.</summary>
    public static IApplicationBuilder UseResultsBrowser(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            return next(context);
        });
        app.UseMiddleware<AccessGuard>();
        app.UseRouting();
        app.UseEndpoints(endpoints =>
        {
            BrowserEndpoints.Map(endpoints);
            StaticPage.Map(endpoints);
            endpoints.MapOpenApi();
        });
        return app;
    }

    /// <summary>
    /// Builds the Kestrel server <c>pgpipe serve</c> runs. Configuration comes only from <paramref name="configuration"/>
    /// (no appsettings or environment of its own), so serve reads exactly what the other commands read.
    /// </summary>
    /// <exception cref="ResultsBrowserConfigurationException">A URL binds beyond loopback without credentials, or a URL or setting is invalid.</exception>
    public static WebApplication CreateServer(IConfiguration configuration, BrowserStore store, IReadOnlyList<string> urls, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(urls);
        var options = new ResultsBrowserOptions();
        configuration.GetSection(ResultsBrowserOptions.SectionName).Bind(options);
        var validation = new ResultsBrowserOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new ResultsBrowserConfigurationException(validation.FailureMessage);
        }

        CheckRanges(options, ResultsBrowserOptions.SectionName);
        var documents = new DocumentOptions();
        configuration.GetSection(DocumentOptions.SectionName).Bind(documents);
        CheckRanges(documents, DocumentOptions.SectionName);
        CheckBinding(urls, options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddConfiguration(configuration);
        // Last and writable: the listen addresses (and anything the host itself sets) go here, not into the caller's configuration.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [WebHostDefaults.ServerUrlsKey] = string.Join(';', urls) });
        builder.Logging.ClearProviders();
        configureLogging?.Invoke(builder.Logging);

        builder.Services.AddResultsBrowser(configuration, store);
        var app = builder.Build();
        app.UseResultsBrowser();
        return app;
    }

    /// <summary>
    /// Refuses URLs that would accept connections from other hosts unless credentials are configured. Loopback means an
    /// IP literal in 127.0.0.0/8 or ::1, or the name localhost; wildcards (*, +, 0.0.0.0, [::]) and other names are not.
    /// </summary>
    /// <exception cref="ResultsBrowserConfigurationException">A URL is malformed, or binds beyond loopback without credentials.</exception>
    public static void CheckBinding(IReadOnlyList<string> urls, ResultsBrowserOptions options)
    {
        ArgumentNullException.ThrowIfNull(urls);
        ArgumentNullException.ThrowIfNull(options);
        if (urls.Count == 0)
        {
            throw new ResultsBrowserConfigurationException($"No URL to listen on; give --urls, e.g. {DefaultUrl}.");
        }

        foreach (var url in urls)
        {
            var host = HostOf(url);
            if (!AccessGuard.IsLoopbackHost(host) && !options.HasCredentials)
            {
                throw new ResultsBrowserConfigurationException(
                    $"--urls {url} listens beyond loopback ({host}), and no credentials are configured. Set {ResultsBrowserOptions.SectionName}:ApiKey (clients send it as {ResultsBrowserOptions.ApiKeyHeader}) or {ResultsBrowserOptions.SectionName}:BasicAuthUser and {ResultsBrowserOptions.SectionName}:BasicAuthPassword (appsettings.json or Serve__ApiKey etc. in the environment), or bind {DefaultUrl}.");
            }
        }
    }

    /// <summary>
    /// The data-annotation ranges, checked here so that a value out of range is one line naming the setting rather than
    /// the host's start-up failure with its stack trace.
    /// </summary>
    private static void CheckRanges(object options, string section)
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new System.ComponentModel.DataAnnotations.ValidationContext(options), results, validateAllProperties: true))
        {
            throw new ResultsBrowserConfigurationException(string.Join(" ", results.Select(r =>
                $"{section}:{string.Join(", ", r.MemberNames)} is out of range ({r.ErrorMessage}); fix it in appsettings.json or the {section}__ environment variables.")));
        }
    }

    private static string HostOf(string url)
    {
        // Kestrel's wildcards are not valid URI hosts; they mean "every interface".
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            throw new ResultsBrowserConfigurationException($"--urls value '{url}' is not a URL; expected e.g. {DefaultUrl}.");
        }

        var rest = url[(schemeEnd + 3)..];
        if (rest.StartsWith('*') || rest.StartsWith('+'))
        {
            return "*";
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ResultsBrowserConfigurationException($"--urls value '{url}' is not an http:// or https:// URL; expected e.g. {DefaultUrl}.");
        }

        return uri.HostNameType == UriHostNameType.IPv6 ? IPAddress.Parse(uri.Host.Trim('[', ']')).ToString() : uri.Host;
    }
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Catalog.Tests;

public sealed class CatalogRegistrationTests
{
    [Fact]
    public async Task Host_start_fails_on_invalid_S3_settings_naming_them()
    {
        using var host = BuildHost(new() { ["S3:ServiceUrl"] = "not a url", ["S3:AccessKey"] = "only-half" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("S3:ServiceUrl", error.Message, StringComparison.Ordinal);
        Assert.Contains("S3:SecretKey", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_start_fails_on_out_of_range_catalog_limits()
    {
        using var host = BuildHost(new() { ["Catalog:ListPageSize"] = "5000" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("ListPageSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bound_settings_reach_the_factory()
    {
        var folder = Directory.CreateTempSubdirectory("pgpipe-catalog-").FullName;
        try
        {
            using var host = BuildHost(new()
            {
                ["S3:ServiceUrl"] = "http://127.0.0.1:1",
                ["S3:AccessKey"] = "k",
                ["S3:SecretKey"] = "s",
                ["Catalog:MaxObjectBytes"] = "3",
            });
            await host.StartAsync();

            var s3 = host.Services.GetRequiredService<IOptions<S3Options>>().Value;
            Assert.Equal("http://127.0.0.1:1", s3.ServiceUrl);
            Assert.True(s3.UsePathStyle);

            await File.WriteAllTextAsync(Path.Combine(folder, "four.bin"), "1234");
            var source = host.Services.GetRequiredService<CatalogSourceFactory>().Create(folder);
            var item = Assert.Single(await S3CatalogSourceTests.ListAsync(source, CatalogFilter.All));
            await Assert.ThrowsAsync<CatalogObjectTooLargeException>(() => source.ReadAsync(item.Uri, item.ETag, CancellationToken.None));
            await host.StopAsync();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddCatalog();
        return builder.Build();
    }
}

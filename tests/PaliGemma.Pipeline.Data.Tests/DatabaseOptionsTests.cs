using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Data.Tests;

public sealed class DatabaseOptionsTests
{
    [Fact]
    public void Sqlite_is_the_default_with_a_local_file()
    {
        var options = Resolve(new Dictionary<string, string?>());

        Assert.Equal(DatabaseProvider.Sqlite, options.Provider);
        Assert.Equal("Data Source=./pgpipe.db", options.EffectiveConnectionString);
    }

    [Fact]
    public void Postgres_without_a_connection_string_is_rejected_naming_the_setting()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(new() { ["Database:Provider"] = "Postgres" }));

        Assert.Contains("Database:ConnectionString", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_connection_string_is_rejected_naming_the_setting()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Resolve(new()
        {
            ["Database:Provider"] = "Postgres",
            ["Database:ConnectionString"] = "Hots=db;Nonsense",
        }));

        Assert.Contains("Database:ConnectionString", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddPipelineData_resolves_a_store_for_the_configured_provider()
    {
        using var provider = Services(new()
        {
            ["Database:Provider"] = "Postgres",
            ["Database:ConnectionString"] = "Host=127.0.0.1;Database=x",
        });

        Assert.Equal(DatabaseProvider.Postgres, provider.GetRequiredService<ResultStore>().Provider);
    }

    private static DatabaseOptions Resolve(Dictionary<string, string?> settings)
    {
        using var provider = Services(settings);
        return provider.GetRequiredService<IOptions<DatabaseOptions>>().Value;
    }

    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddLogging().AddPipelineData(configuration).BuildServiceProvider();
    }
}

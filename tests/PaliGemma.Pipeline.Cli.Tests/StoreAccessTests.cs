using Microsoft.Extensions.Logging.Abstractions;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>How commands find the store: configuration layers, the --db shortcut, and the missing-store check.</summary>
public sealed class StoreAccessTests : IDisposable
{
    private readonly string _binary = Directory.CreateTempSubdirectory("pgpipe-bin-").FullName;
    private readonly string _work = Directory.CreateTempSubdirectory("pgpipe-work-").FullName;

    public void Dispose()
    {
        Directory.Delete(_binary, recursive: true);
        Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public void With_nothing_configured_the_store_is_the_embedded_sqlite_file_in_the_working_directory()
    {
        var options = StoreAccess.GetDatabaseOptions(StoreAccess.BuildConfiguration(null, _binary, _work, includeEnvironment: false));

        Assert.Equal(DatabaseProvider.Sqlite, options.Provider);
        Assert.Equal("Data Source=./pgpipe.db", options.EffectiveConnectionString);
    }

    [Fact]
    public void Appsettings_in_the_working_directory_override_those_next_to_the_binary_and_db_overrides_both()
    {
        File.WriteAllText(Path.Combine(_binary, "appsettings.json"), """{"Database":{"Provider":"Postgres","ConnectionString":"Host=binary;Database=pgpipe"}}""");
        var fromBinary = StoreAccess.GetDatabaseOptions(StoreAccess.BuildConfiguration(null, _binary, _work, includeEnvironment: false));
        Assert.Equal((DatabaseProvider.Postgres, "Host=binary;Database=pgpipe"), (fromBinary.Provider, fromBinary.ConnectionString));

        File.WriteAllText(Path.Combine(_work, "appsettings.json"), """{"Database":{"ConnectionString":"Host=work;Database=pgpipe"}}""");
        var fromWork = StoreAccess.GetDatabaseOptions(StoreAccess.BuildConfiguration(null, _binary, _work, includeEnvironment: false));
        Assert.Equal((DatabaseProvider.Postgres, "Host=work;Database=pgpipe"), (fromWork.Provider, fromWork.ConnectionString));

        var fromOption = StoreAccess.GetDatabaseOptions(StoreAccess.BuildConfiguration("other.db", _binary, _work, includeEnvironment: false));
        Assert.Equal(DatabaseProvider.Sqlite, fromOption.Provider);
        Assert.Equal(Path.Combine(_work, "other.db"), StoreAccess.SqliteFilePath(fromOption.EffectiveConnectionString));
    }

    [Theory]
    [InlineData("Host=db.internal;Username=pgpipe;Password=x;Database=pgpipe", DatabaseProvider.Postgres)]
    [InlineData("Server=db;Database=pgpipe", DatabaseProvider.Postgres)]
    [InlineData("Data Source=/var/lib/pgpipe/store.db", DatabaseProvider.Sqlite)]
    public void A_db_connection_string_picks_its_provider_by_its_keys(string value, DatabaseProvider expected)
    {
        var (provider, connectionString) = StoreAccess.InterpretDbOption(value, _work);

        Assert.Equal((expected, value), (provider, connectionString));
    }

    [Fact]
    public void A_db_file_path_is_made_absolute_against_the_working_directory()
    {
        var (provider, connectionString) = StoreAccess.InterpretDbOption("sub/store.db", _work);

        Assert.Equal(DatabaseProvider.Sqlite, provider);
        Assert.Equal(Path.Combine(_work, "sub", "store.db"), StoreAccess.SqliteFilePath(connectionString));
    }

    [Fact]
    public void Postgres_without_a_connection_string_is_a_configuration_error_naming_the_setting()
    {
        File.WriteAllText(Path.Combine(_work, "appsettings.json"), """{"Database":{"Provider":"Postgres"}}""");

        var ex = Assert.Throws<StoreConfigurationException>(() =>
            StoreAccess.GetDatabaseOptions(StoreAccess.BuildConfiguration(null, _binary, _work, includeEnvironment: false)));
        Assert.Contains("Database:ConnectionString", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_provider_is_a_configuration_error_naming_the_setting()
    {
        File.WriteAllText(Path.Combine(_work, "appsettings.json"), """{"Database":{"Provider":"Oracle"}}""");

        var ex = Assert.Throws<StoreConfigurationException>(() =>
            StoreAccess.GetDatabaseOptions(StoreAccess.BuildConfiguration(null, _binary, _work, includeEnvironment: false)));
        Assert.Contains("Database:Provider", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_sqlite_file_is_reported_with_the_migrate_hint_and_not_created()
    {
        var file = Path.Combine(_work, "absent.db");
        var configuration = StoreAccess.BuildConfiguration(file, _binary, _work, includeEnvironment: false);

        var ex = await Assert.ThrowsAsync<StoreUnavailableException>(() =>
            StoreAccess.OpenExistingStoreAsync(configuration, NullLoggerFactory.Instance, CancellationToken.None));
        Assert.Contains("pgpipe migrate", ex.Message, StringComparison.Ordinal);
        Assert.Contains(file, ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(file), "a read command must not create the store");

        var cli = await CliRunner.RunAsync("status", "--db", file);
        Assert.Equal((3, string.Empty), (cli.ExitCode, cli.Stdout));
        Assert.False(File.Exists(file));
    }
}

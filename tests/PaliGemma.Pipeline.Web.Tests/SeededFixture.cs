using System.Net;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>The database under a seeded fixture: a SQLite file in the fixture's folder, or a fresh Postgres database.</summary>
public abstract class TestDatabase
{
    public abstract DatabaseProvider Provider { get; }

    public abstract string ConnectionString { get; }

    /// <summary>The SQLite file, or null for Postgres.</summary>
    public abstract string? SqliteFile { get; }

    public abstract Task StartAsync();

    /// <summary>Skips the test where the database is not available (never with CI=true: then it throws).</summary>
    public abstract void SkipIfUnavailable();

    public abstract Task StopAsync();
}

public sealed class SqliteTestDatabase(string folder) : TestDatabase
{
    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    public override string? SqliteFile => Path.Combine(folder, "store.db");

    public override string ConnectionString => new SqliteConnectionStringBuilder { DataSource = SqliteFile }.ConnectionString;

    public override Task StartAsync() => Task.CompletedTask;

    public override void SkipIfUnavailable()
    {
        // Embedded: always available.
    }

    public override Task StopAsync()
    {
        // Pooled connections hold the file open; the folder is deleted next.
        SqliteConnection.ClearAllPools();
        return Task.CompletedTask;
    }
}

public sealed class PostgresTestDatabase : TestDatabase
{
    private readonly PostgresFixture _postgres = new();

    public override DatabaseProvider Provider => DatabaseProvider.Postgres;

    public override string? SqliteFile => null;

    public override string ConnectionString => _postgres.ConnectionString;

    public override Task StartAsync() => _postgres.InitializeAsync();

    public override void SkipIfUnavailable()
    {
        Skip.If(_postgres.SkipReason is not null, _postgres.SkipReason);
        _postgres.EnsureAvailable();
    }

    public override Task StopAsync() => _postgres.DisposeAsync();
}

/// <summary>
/// A migrated store in a temporary folder, seeded once per test class by <see cref="SeedAsync"/>. A seeding failure
/// is kept and thrown, with its cause, by the first test that uses the store, rather than as an opaque fixture crash.
/// </summary>
public abstract class SeededFixture : IAsyncLifetime
{
    private readonly TestDatabase _database;
    private Exception? _seedFailure;

    protected SeededFixture(Func<string, TestDatabase> database)
    {
        ArgumentNullException.ThrowIfNull(database);
        Folder = Directory.CreateTempSubdirectory("pgpipe-web-tests-").FullName;
        _database = database(Folder);
    }

    public ResultStore Store { get; private set; } = null!;

    public DatabaseProvider Provider => _database.Provider;

    public string? SqliteFile => _database.SqliteFile;

    /// <summary>The --db value that points pgpipe at this store.</summary>
    public string Db => _database.ConnectionString;

    protected string Folder { get; }

    public void SkipOrThrowIfUnavailable()
    {
        _database.SkipIfUnavailable();
        if (_seedFailure is not null)
        {
            throw new InvalidOperationException($"Seeding the {Provider} store failed: {_seedFailure.Message}", _seedFailure);
        }
    }

    public async Task InitializeAsync()
    {
        await _database.StartAsync();
        try
        {
            _database.SkipIfUnavailable();
        }
        catch (Exception)
        {
            return;
        }

        try
        {
            Store = new ResultStore(
                new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = Provider, ConnectionString = Db })),
                TimeProvider.System, NullLogger<ResultStore>.Instance);
            await Store.MigrateAsync(CancellationToken.None);
            await SeedAsync(Store, CancellationToken.None);
        }
        catch (Exception ex)
        {
            _seedFailure = ex;
        }
    }

    public async Task DisposeAsync()
    {
        await _database.StopAsync();
        Directory.Delete(Folder, recursive: true);
    }

    /// <summary>A test server over this store; <paramref name="remote"/> is the peer address every request appears to come from.</summary>
    public BrowserFactory CreateFactory(IPAddress? remote = null, IDictionary<string, string?>? settings = null) =>
        new(new Web.BrowserStore(Store, SqliteFile), remote ?? IPAddress.Loopback, settings ?? new Dictionary<string, string?>());

    /// <summary>Writes the fixture's rows into the migrated <paramref name="store"/>.</summary>
    protected abstract Task SeedAsync(ResultStore store, CancellationToken ct);
}

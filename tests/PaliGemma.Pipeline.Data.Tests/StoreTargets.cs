using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>Where a scenario class runs: one database per test class, plus empty ones on demand.</summary>
public interface IStoreTarget
{
    /// <summary>Provider under test.</summary>
    DatabaseProvider Provider { get; }

    /// <summary>Skips (outside CI) or fails (captured start-up error) before a scenario touches the database.</summary>
    void SkipOrThrowIfUnavailable();

    /// <summary>This class's database.</summary>
    string ConnectionString { get; }

    /// <summary>A new, empty database.</summary>
    Task<string> CreateEmptyDatabaseAsync(CancellationToken cancellationToken);
}

/// <summary>Postgres through <see cref="PostgresFixture"/>.</summary>
public sealed class PostgresTarget(PostgresFixture fixture) : IStoreTarget
{
    public DatabaseProvider Provider => DatabaseProvider.Postgres;

    public string ConnectionString => fixture.ConnectionString;

    public void SkipOrThrowIfUnavailable()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        fixture.EnsureAvailable();
    }

    public Task<string> CreateEmptyDatabaseAsync(CancellationToken cancellationToken) => fixture.CreateDatabaseAsync(cancellationToken);
}

/// <summary>SQLite files in a temporary folder, deleted with the fixture.</summary>
public sealed class SqliteFixture : IStoreTarget, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-data-tests-").FullName;

    public SqliteFixture()
    {
        ConnectionString = NewDatabase();
    }

    public DatabaseProvider Provider => DatabaseProvider.Sqlite;

    public string ConnectionString { get; }

    public void SkipOrThrowIfUnavailable()
    {
        // SQLite is embedded; always available.
    }

    public Task<string> CreateEmptyDatabaseAsync(CancellationToken cancellationToken) => Task.FromResult(NewDatabase());

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private string NewDatabase() =>
        new SqliteConnectionStringBuilder { DataSource = Path.Combine(_folder, Guid.NewGuid().ToString("N") + ".db") }.ConnectionString;
}

/// <summary>A clock the scenarios move by hand, so "latest" and throughput windows are exact.</summary>
public sealed class ManualTime : TimeProvider
{
    public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}

/// <summary>Builds stores the way AddPipelineData would, from a provider and a connection string.</summary>
public static class Stores
{
    public static PipelineDbContextFactory Factory(DatabaseProvider provider, string connectionString) =>
        new(Options.Create(new DatabaseOptions { Provider = provider, ConnectionString = connectionString }));

    public static ResultStore Create(DatabaseProvider provider, string connectionString, TimeProvider? time = null) =>
        new(Factory(provider, connectionString), time ?? TimeProvider.System, NullLogger<ResultStore>.Instance);

    /// <summary>Respawn-style reset: every scenario starts from empty tables instead of a new database.</summary>
    public static async Task ResetAsync(DatabaseProvider provider, string connectionString, CancellationToken cancellationToken)
    {
        await using var context = Factory(provider, connectionString).CreateDbContext();
        await context.Database.ExecuteSqlRawAsync(
            "DELETE FROM run_items; DELETE FROM runs; DELETE FROM failures; DELETE FROM results; DELETE FROM images; DELETE FROM documents;",
            cancellationToken);
    }
}

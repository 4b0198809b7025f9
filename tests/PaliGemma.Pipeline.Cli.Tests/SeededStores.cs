using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>A clock the seed moves by hand, so "created" order and the throughput window are exact.</summary>
public sealed class ManualTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Where a seeded store lives: a SQLite file or a fresh Postgres database, and how the CLI's --db names it.</summary>
public abstract class StoreBackend
{
    public abstract DatabaseProvider Provider { get; }

    /// <summary>The --db value that points the CLI at this store.</summary>
    public abstract string Db { get; }

    public abstract string ConnectionString { get; }

    public abstract Task StartAsync();

    /// <summary>Skips outside CI when the service is missing.</summary>
    public abstract void SkipIfUnavailable();

    /// <summary>A --db value for a new, empty (unmigrated) database.</summary>
    public abstract Task<string> CreateEmptyDatabaseAsync();

    public abstract Task StopAsync();
}

/// <summary>A SQLite file in a temporary folder; --db is the plain file path.</summary>
public sealed class SqliteBackend(string folderPrefix) : StoreBackend
{
    public string Folder { get; } = Directory.CreateTempSubdirectory(folderPrefix).FullName;

    public string File => Path.Combine(Folder, "store.db");

    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    public override string Db => File;

    public override string ConnectionString => new SqliteConnectionStringBuilder { DataSource = File }.ConnectionString;

    public override Task StartAsync() => Task.CompletedTask;

    public override void SkipIfUnavailable()
    {
        // Embedded: always available.
    }

    public override Task<string> CreateEmptyDatabaseAsync()
    {
        // An existing but empty file: what `sqlite3 x.db ""` or a crashed first start leaves behind.
        var path = Path.Combine(Folder, Guid.NewGuid().ToString("N") + ".db");
        System.IO.File.WriteAllBytes(path, []);
        return Task.FromResult(path);
    }

    public override Task StopAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(Folder, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>A fresh Postgres database from <see cref="PostgresFixture"/>; --db is its connection string.</summary>
public sealed class PostgresBackend : StoreBackend
{
    private readonly PostgresFixture _postgres = new();

    public override DatabaseProvider Provider => DatabaseProvider.Postgres;

    public override string Db => _postgres.ConnectionString;

    public override string ConnectionString => _postgres.ConnectionString;

    public override Task StartAsync() => _postgres.InitializeAsync();

    public override void SkipIfUnavailable()
    {
        Skip.If(_postgres.SkipReason is not null, _postgres.SkipReason);
        _postgres.EnsureAvailable();
    }

    public override Task<string> CreateEmptyDatabaseAsync() => _postgres.CreateDatabaseAsync();

    public override Task StopAsync() => _postgres.DisposeAsync();
}

/// <summary>
/// A store seeded once per test class through the public ResultStore API. A missing service or a failed seed is
/// reported by each scenario (skip or failure with context), not as a fixture crash.
/// </summary>
public abstract class SeededFixture(StoreBackend backend) : IAsyncLifetime
{
    private Exception? _seedFailure;

    /// <summary>The --db value that points the CLI at this store.</summary>
    public string Db => Backend.Db;

    public DatabaseProvider Provider => Backend.Provider;

    protected StoreBackend Backend { get; } = backend;

    protected string ConnectionString => Backend.ConnectionString;

    /// <summary>Skips outside CI when the service is missing; otherwise throws any captured set-up failure.</summary>
    public void SkipOrThrowIfUnavailable()
    {
        Backend.SkipIfUnavailable();
        if (_seedFailure is not null)
        {
            throw new InvalidOperationException($"Seeding the {Provider} store failed: {_seedFailure.Message}", _seedFailure);
        }
    }

    /// <summary>The --db value, once the scenario has skipped or failed if the store is unavailable.</summary>
    public string AvailableDb
    {
        get
        {
            SkipOrThrowIfUnavailable();
            return Db;
        }
    }

    /// <summary>A --db value for a new, empty (unmigrated) database.</summary>
    public Task<string> CreateEmptyDatabaseAsync() => Backend.CreateEmptyDatabaseAsync();

    public async Task InitializeAsync()
    {
        await Backend.StartAsync();
        try
        {
            Backend.SkipIfUnavailable();
        }
        catch (Exception)
        {
            return;
        }

        try
        {
            await SeedAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            _seedFailure = ex;
        }
    }

    public Task DisposeAsync() => Backend.StopAsync();

    protected abstract Task SeedAsync(CancellationToken ct);
}

/// <summary>
/// The store every read-command scenario queries, written through the public ResultStore API exactly as the
/// producer and worker would. Two runs of model <see cref="Model"/> over s3://photos/ with tasks
/// <see cref="Caption"/> and <see cref="Detect"/>:
/// <list type="bullet">
/// <item>"monday" (two days ago): a.jpg (640x480) captioned and one cat box.</item>
/// <item>"tuesday" (a minute ago): lists a.jpg again (same ETag, reused, not enqueued), b.jpg (1024x768,
/// caption + two dog boxes), c.jpg (800x600, caption failed "decode: truncated JPEG data", detect found
/// nothing), d.jpg (nothing yet: pending), e.jpg (both tasks failed with reason "fetch" and no message).</item>
/// </list>
/// </summary>
public abstract class SeededStore(StoreBackend backend) : SeededFixture(backend)
{
    public const string Model = "paligemma2-3b-pt-448";
    public const string Caption = "caption en";
    public const string Detect = "detect cat ; dog";
    public const string Source = "s3://photos/";

    /// <summary>Real time is used by the CLI, so the seed is placed relative to it.</summary>
    public static readonly DateTimeOffset SeededAt = DateTimeOffset.UtcNow;

    public RunInfo Monday { get; private set; } = null!;

    public RunInfo Tuesday { get; private set; } = null!;

    protected override async Task SeedAsync(CancellationToken ct)
    {
        var time = new ManualTime(SeededAt - TimeSpan.FromDays(2));
        var store = new ResultStore(
            new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = Provider, ConnectionString = ConnectionString })),
            time, NullLogger<ResultStore>.Instance);
        await store.MigrateAsync(ct);

        Monday = await store.CreateRunAsync(new RunDefinition("monday", Source, Model, [Caption, Detect]), ct);
        await store.RecordListedPageAsync(Monday.Id, [new RunItemRecord(ObjectUri("a"), "ea", 1000, true)], "a.jpg", ct);
        await store.CompleteListingAsync(Monday.Id, ct);
        await store.WriteBatchAsync(new ResultBatch(
            [
                new ResultRecord(ObjectUri("a"), "ea", Model, Caption, "a black cat sleeping on a red sofa", null, 1030, 9, 120, Monday.Id),
                new ResultRecord(ObjectUri("a"), "ea", Model, Detect, "cat", """[{"label":"cat","x1":64,"y1":48,"x2":320,"y2":240}]""", 1030, 5, 80, Monday.Id),
            ],
            [],
            [new ImageRecord(ObjectUri("a"), "ea", 640, 480, 1000)]), ct);

        time.Now = SeededAt - TimeSpan.FromMinutes(1);
        Tuesday = await store.CreateRunAsync(new RunDefinition("tuesday", Source, Model, [Caption, Detect]), ct);
        await store.RecordListedPageAsync(Tuesday.Id,
            [
                new RunItemRecord(ObjectUri("a"), "ea", 1000, false),
                new RunItemRecord(ObjectUri("b"), "eb", 2000, true),
                new RunItemRecord(ObjectUri("c"), "ec", 3000, true),
            ],
            "c.jpg", ct);
        await store.RecordListedPageAsync(Tuesday.Id,
            [new RunItemRecord(ObjectUri("d"), "ed", 4000, true), new RunItemRecord(ObjectUri("e"), "ee", 5000, true)], "e.jpg", ct);
        await store.CompleteListingAsync(Tuesday.Id, ct);
        await store.WriteBatchAsync(new ResultBatch(
            [
                new ResultRecord(ObjectUri("b"), "eb", Model, Caption, "two dogs running on the beach", null, 1030, 8, 110, Tuesday.Id),
                new ResultRecord(ObjectUri("b"), "eb", Model, Detect, "dog ; dog",
                    """[{"label":"dog","x1":100.5,"y1":200.25,"x2":300.75,"y2":500},{"label":"dog","x1":512,"y1":0,"x2":1024,"y2":384.5}]""", 1030, 10, 90, Tuesday.Id),
                new ResultRecord(ObjectUri("c"), "ec", Model, Detect, string.Empty, "[]", 1030, 1, 60, Tuesday.Id),
            ],
            [
                new FailureRecord(ObjectUri("c"), "ec", Model, Caption, "decode", "truncated JPEG data", Tuesday.Id),
                new FailureRecord(ObjectUri("e"), "ee", Model, Caption, "fetch", null, Tuesday.Id),
                new FailureRecord(ObjectUri("e"), "ee", Model, Detect, "fetch", null, Tuesday.Id),
            ],
            [new ImageRecord(ObjectUri("b"), "eb", 1024, 768, 2000), new ImageRecord(ObjectUri("c"), "ec", 800, 600, 3000)]), ct);
    }

    public static string ObjectUri(string name) => $"{Source}{name}.jpg";
}

/// <summary>The seeded store in a SQLite file; --db is the plain file path.</summary>
public sealed class SqliteSeededStore() : SeededStore(new SqliteBackend("pgpipe-cli-tests-"))
{
    public string File => ((SqliteBackend)Backend).File;

    public string Folder => ((SqliteBackend)Backend).Folder;
}

/// <summary>The seeded store in a fresh Postgres database.</summary>
public sealed class PostgresSeededStore() : SeededStore(new PostgresBackend());

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Least privilege on a real Postgres: a migration role that owns the schema, and worker, producer and reader roles
/// that can do their component's work and nothing else (no DROP, ALTER, TRUNCATE, no tables they do not need).
/// Roles are cluster-wide, so every name carries a fresh suffix and is dropped afterwards.
/// </summary>
public sealed class DatabaseRolesTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private const string Model = "tiny:fp32";
    private const string InsufficientPrivilege = "42501";

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..12];
    private readonly List<string> _roles = [];
    private string? _admin;
    private string? _database;

    private string Migrator => "pgpipe_m_" + _suffix;
    private string Worker => "pgpipe_w_" + _suffix;
    private string Producer => "pgpipe_p_" + _suffix;
    private string Reader => "pgpipe_r_" + _suffix;

    public async Task InitializeAsync()
    {
        if (fixture.SkipReason is not null)
        {
            return;
        }

        // Given a fresh database and four login roles; only the migrator may create objects in it.
        _admin = new NpgsqlConnectionStringBuilder(fixture.ConnectionString) { Database = "postgres" }.ConnectionString;
        _database = "pgpipe_roles_" + _suffix;
        foreach (var role in new[] { Migrator, Worker, Producer, Reader })
        {
            await AdminAsync(_admin, $"CREATE ROLE \"{role}\" LOGIN PASSWORD '{Password(role)}'");
            _roles.Add(role);
        }

        await AdminAsync(_admin, $"CREATE DATABASE \"{_database}\"");
        await AdminAsync(Connection(null), $"GRANT CREATE ON SCHEMA public TO \"{Migrator}\"");
    }

    public async Task DisposeAsync()
    {
        if (_admin is null)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        await AdminAsync(_admin, $"DROP DATABASE IF EXISTS \"{_database}\" WITH (FORCE)");
        foreach (var role in _roles)
        {
            await AdminAsync(_admin, $"DROP ROLE IF EXISTS \"{role}\"");
        }
    }

    [SkippableFact]
    public async Task Each_role_does_its_work_and_nothing_else()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        fixture.EnsureAvailable();
        var ct = CancellationToken.None;

        // When the migration role migrates and grants
        var migrator = Store(Migrator);
        await migrator.MigrateAsync(ct);
        await migrator.GrantRolesAsync(new DatabaseRoleGrants(Worker, Producer, Reader), ct);
        // Twice: migrate re-runs on every deploy, and REVOKE-then-GRANT must leave the same privileges.
        await migrator.GrantRolesAsync(new DatabaseRoleGrants(Worker, Producer, Reader), ct);

        // Then the producer can create a run, record a listed page, supersede and sweep
        var producer = Store(Producer);
        var run = await producer.CreateRunAsync(new RunDefinition("nightly", "/data/", Model, ["caption en"]), ct);
        await producer.MarkSupersededByNewEtagAsync([new ObjectVersion("/data/a.jpg", "e1")], ct);
        Assert.Empty(await producer.FindExistingResultsAsync([new ObjectVersion("/data/a.jpg", "e1")], Model, ["caption en"], ct));
        await producer.RecordListedPageAsync(run.Id, [new RunItemRecord("/data/a.jpg", "e1", 10, true), new RunItemRecord("/data/b.jpg", "e2", 10, true)], "b.jpg", ct);

        // And the worker can write a batch (image, result, failure, and a result replacing a failure)
        var worker = Store(Worker);
        Assert.Empty(await worker.FindExistingResultsAsync([new ObjectVersion("/data/a.jpg", "e1")], Model, ["caption en"], ct));
        await worker.WriteBatchAsync(new ResultBatch(
            [Result("/data/a.jpg", "e1", run.Id)],
            [new FailureRecord("/data/b.jpg", "e2", Model, "caption en", "corrupt", "bad bytes", run.Id)],
            [new ImageRecord("/data/a.jpg", "e1", 4, 3, 10)]), ct);
        await worker.WriteBatchAsync(new ResultBatch([Result("/data/b.jpg", "e2", run.Id)], [], []), ct);
        Assert.Equal(2, (await worker.FindExistingResultsAsync(
            [new ObjectVersion("/data/a.jpg", "e1"), new ObjectVersion("/data/b.jpg", "e2")], Model, ["caption en"], ct)).Count);

        await producer.CompleteListingAsync(run.Id, ct);
        Assert.Equal(0, await producer.MarkSupersededMissingAsync(run.Id, ct));

        // And the reader sees status, search, export and the change feed
        var reader = Store(Reader);
        var status = await reader.GetRunStatusAsync(run.Id, TimeSpan.FromMinutes(5), ct);
        Assert.Equal(2, status.Done);
        Assert.NotEmpty(await reader.SearchAsync("cat", 10, ct));
        var exported = new List<ExportRow>();
        await foreach (var row in reader.ExportRunAsync(run.Id, ct))
        {
            exported.Add(row);
        }

        Assert.Equal(2, exported.Count);
        // The feed holds rows back while any transaction on the server is open (other tests run in parallel): poll.
        var (feed, _) = await FeedPolling.ReadAtLeastAsync(reader, ChangeCursor.Start, 2, ct);
        Assert.Equal(2, feed.Count);

        // And the worker can expand a document: record it, write a page, ask which pages are done
        await worker.RecordDocumentsAsync([new DocumentRecord("/data/c.pdf", "e3", "pdf", 2, 10, run.Id)], ct);
        await worker.WriteBatchAsync(ResultBatch.Of(Result("/data/c.pdf", "e3", run.Id) with { Page = 1 }), ct);
        Assert.Equal([(1, "caption en")], await worker.FindDonePagesAsync(new ObjectVersion("/data/c.pdf", "e3"), Model, ["caption en"], ct));

        // But no role except the owner can change the schema or empty a table, and none reads what it does not need
        string[] everyoneDenied =
        [
            "DROP TABLE results", "ALTER TABLE results ADD COLUMN x int", "TRUNCATE results", "TRUNCATE failures",
            "CREATE TABLE extra (id int)", "DROP VIEW current_results", "DELETE FROM results", "DELETE FROM runs",
        ];
        var denied = new Dictionary<string, string[]>
        {
            [Worker] = [.. everyoneDenied, "SELECT * FROM runs", "SELECT * FROM run_items", "UPDATE runs SET listed_count = 0", "INSERT INTO run_items VALUES (gen_random_uuid(), 'x', 'e', 1, true)"],
            [Producer] = [.. everyoneDenied, "SELECT * FROM failures", "SELECT * FROM images", "INSERT INTO failures (uri, etag, model, task, reason_code, attempts, created_at, updated_at) VALUES ('x', 'e', 'm', 't', 'r', 1, now(), now())",
                "INSERT INTO documents (uri, etag, kind, size, created_at) VALUES ('x', 'e', 'pdf', 1, now())"],
            [Reader] = [.. everyoneDenied, "INSERT INTO images (uri, etag, width, height, size) VALUES ('x', 'e', 1, 1, 1)", "UPDATE results SET text = 'x'", "SELECT nextval('results_change_seq')",
                "UPDATE documents SET page_count = 1"],
        };
        var surprises = new List<string>();
        foreach (var (role, statements) in denied)
        {
            foreach (var sql in statements)
            {
                var state = await TryAsync(role, sql);
                if (state != InsufficientPrivilege)
                {
                    surprises.Add($"{role}: `{sql}` gave {state ?? "success"}, expected {InsufficientPrivilege} (insufficient privilege)");
                }
            }
        }

        Assert.True(surprises.Count == 0, string.Join("\n", surprises));

        // And the migration role still owns the schema: it can migrate again (a no-op) and alter what it created
        await migrator.MigrateAsync(ct);
        Assert.Null(await TryAsync(Migrator, "ALTER TABLE results ALTER COLUMN text SET STATISTICS 100"));
    }

    [SkippableFact]
    public async Task The_init_script_creates_login_roles_that_migrate_then_grants()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var script = FindUp(Path.Combine("deploy", "postgres", "init-roles.sh"));
        Skip.If(!ServiceRequirement.IsCi && !OnPath("psql"), "psql is not installed (the init script runs through it).");
        var admin = new NpgsqlConnectionStringBuilder(_admin);
        var worker = "pgpipe_iw_" + _suffix;
        _roles.AddRange([worker, "pgpipe_ip_" + _suffix, "pgpipe_ir_" + _suffix]);
        // A password with a space, a quote and a backslash: the script must pass it through verbatim.
        var workerPassword = "w p'x\\y-" + _suffix;
        var environment = new Dictionary<string, string>
        {
            ["PGHOST"] = admin.Host!, ["PGPORT"] = admin.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGPASSWORD"] = admin.Password!, ["POSTGRES_USER"] = admin.Username!, ["POSTGRES_DB"] = _database!,
            ["PGPIPE_WORKER_ROLE"] = worker, ["PGPIPE_PRODUCER_ROLE"] = "pgpipe_ip_" + _suffix, ["PGPIPE_READER_ROLE"] = "pgpipe_ir_" + _suffix,
            ["PGPIPE_WORKER_DB_PASSWORD"] = workerPassword, ["PGPIPE_PRODUCER_DB_PASSWORD"] = "p-" + _suffix, ["PGPIPE_READER_DB_PASSWORD"] = "r-" + _suffix,
        };

        // When the script runs twice (it must be idempotent), then the owner migrates and grants
        await RunScriptAsync(script, environment);
        await RunScriptAsync(script, environment);
        var migrator = Store(Migrator);
        await migrator.MigrateAsync(CancellationToken.None);
        await migrator.GrantRolesAsync(new DatabaseRoleGrants(worker, "pgpipe_ip_" + _suffix, "pgpipe_ir_" + _suffix), CancellationToken.None);

        // Then the worker logs in with its password and writes a batch, and still cannot read runs
        var b = new NpgsqlConnectionStringBuilder(Connection(null)) { Username = worker, Password = workerPassword };
        var store = new ResultStore(new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = b.ConnectionString })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        await store.WriteBatchAsync(new ResultBatch([Result("/data/x.jpg", "e", Guid.NewGuid())], [], []), CancellationToken.None);
        await using var connection = new NpgsqlConnection(b.ConnectionString);
        await connection.OpenAsync();
        await using var runs = new NpgsqlCommand("SELECT * FROM runs", connection);
        var denied = await Assert.ThrowsAsync<PostgresException>(() => runs.ExecuteReaderAsync());
        Assert.Equal(InsufficientPrivilege, denied.SqlState);
    }

    private static async Task RunScriptAsync(string script, Dictionary<string, string> environment)
    {
        var info = new System.Diagnostics.ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{script} exited with {process.ExitCode}: {await stdout}{await stderr}");
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, tool)));

    private static string FindUp(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}.");
    }

    [Fact]
    public void Role_names_that_are_not_plain_identifiers_are_refused_with_the_setting_named()
    {
        var error = Assert.Throws<ArgumentException>(() => DatabaseRoles.GrantStatements(new DatabaseRoleGrants("w\"; DROP TABLE results; --", null, null)));
        Assert.Contains("Database:WorkerRole", error.Message, StringComparison.Ordinal);

        var options = new DatabaseOptions { Provider = DatabaseProvider.Sqlite, ReaderRole = "pgpipe_reader" };
        var result = new DatabaseOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("SQLite has no roles", result.FailureMessage, StringComparison.Ordinal);
    }

    private static ResultRecord Result(string uri, string etag, Guid run) =>
        new(uri, etag, Model, "caption en", "a cat on a mat", null, 5, 4, 12.5, run);

    private ResultStore Store(string role) =>
        new(new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = Connection(role) })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);

    /// <summary>This test's database, as <paramref name="role"/> (or the admin when null).</summary>
    private string Connection(string? role)
    {
        var b = new NpgsqlConnectionStringBuilder(_admin) { Database = _database, Pooling = false };
        if (role is not null)
        {
            b.Username = role;
            b.Password = Password(role);
        }

        return b.ConnectionString;
    }

    private static string Password(string role) => "pw-" + role;

    /// <summary>Runs <paramref name="sql"/> as <paramref name="role"/> in a rolled-back transaction; the SQLSTATE of its failure, or null.</summary>
    private async Task<string?> TryAsync(string role, string sql)
    {
        await using var connection = new NpgsqlConnection(Connection(role));
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        try
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            await command.ExecuteNonQueryAsync();
            return null;
        }
        catch (PostgresException e)
        {
            return e.SqlState;
        }
        finally
        {
            await transaction.RollbackAsync();
        }
    }

    private static async Task AdminAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

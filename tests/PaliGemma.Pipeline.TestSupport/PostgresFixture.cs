using System.Globalization;
using Npgsql;
using Testcontainers.PostgreSql;
using Xunit;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// A fresh, uniquely named Postgres database per test class, dropped afterwards. The server comes from
/// <see cref="ServiceRequirement.PostgresVariable"/> (a connection string whose role may CREATE DATABASE), else
/// from a Testcontainers container when Docker is present. Outside CI a missing server means "skip" (see
/// <see cref="SkipReason"/>); under CI=true it is a failure. A start-up failure is captured and re-thrown with
/// context by <see cref="EnsureAvailable"/> at first use instead of crashing the fixture opaquely.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    // Tag only: the digest cannot be resolved on these offline machines; pin it where Docker runs.
    private const string Image = "postgres:15-alpine";

    private readonly List<string> _databases = [];
    private PostgreSqlContainer? _container;
    private string? _adminConnectionString;
    private string? _connectionString;
    private Exception? _startFailure;

    /// <summary>Why the tests must skip (no server, not in CI), or null when the database is ready.</summary>
    public string? SkipReason { get; private set; }

    /// <summary>Connection string of this class's database. Call <see cref="EnsureAvailable"/> first.</summary>
    public string ConnectionString
    {
        get
        {
            EnsureAvailable();
            return _connectionString!;
        }
    }

    /// <summary>Throws the captured start-up failure, or an error when the fixture is in skip mode.</summary>
    public void EnsureAvailable()
    {
        if (_startFailure is not null)
        {
            throw new InvalidOperationException(
                $"The Postgres test fixture could not start ({ServiceRequirement.PostgresVariable}='{Redact(Environment.GetEnvironmentVariable(ServiceRequirement.PostgresVariable))}', Docker available: {ServiceRequirement.DockerAvailable}): {_startFailure.Message}",
                _startFailure);
        }

        if (SkipReason is not null)
        {
            throw new InvalidOperationException("Postgres is not available: " + SkipReason + " Check SkipReason before using the fixture.");
        }
    }

    /// <summary>Creates another empty database on the same server (dropped with the fixture) and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(CancellationToken cancellationToken = default)
    {
        EnsureAvailable();
        var name = "pgpipe_test_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(_adminConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            // Identifiers cannot be parameters; the name is generated above, never user input.
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        lock (_databases)
        {
            _databases.Add(name);
        }

        return new NpgsqlConnectionStringBuilder(_adminConnectionString) { Database = name }.ConnectionString;
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        try
        {
            var admin = Environment.GetEnvironmentVariable(ServiceRequirement.PostgresVariable);
            if (string.IsNullOrWhiteSpace(admin))
            {
                if (ServiceRequirement.DockerAvailable)
                {
                    _container = new PostgreSqlBuilder(Image).Build();
                    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
                    await _container.StartAsync(timeout.Token);
                    admin = _container.GetConnectionString();
                }
                else if (ServiceRequirement.IsCi)
                {
                    throw new InvalidOperationException(
                        $"CI=true but {ServiceRequirement.PostgresVariable} is not set and no Docker engine was found; .ci/run must start Postgres and export {ServiceRequirement.PostgresVariable}.");
                }
                else
                {
                    SkipReason = $"Postgres not available: set {ServiceRequirement.PostgresVariable} to a connection string of a role with CREATEDB, or run a Docker engine.";
                    return;
                }
            }

            _adminConnectionString = admin;
            _connectionString = await CreateDatabaseAsync();
        }
        catch (Exception ex)
        {
            _startFailure = ex;
        }
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_adminConnectionString is not null && _databases.Count > 0)
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(_adminConnectionString);
            await connection.OpenAsync();
            foreach (var name in _databases)
            {
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
                try
                {
                    await drop.ExecuteNonQueryAsync();
                }
                catch (PostgresException)
                {
                    // FORCE may not end a session another role still holds (42501: a test's login role, a follower
                    // that is just closing); a scratch database left behind is not a test failure.
                }
            }
        }

        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }

    private static string Redact(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return string.Empty;
        }

        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            if (builder.Password is not null)
            {
                builder.Password = "***";
            }

            return builder.ConnectionString;
        }
        catch (ArgumentException)
        {
            return "<unparseable, " + connectionString.Length.ToString(CultureInfo.InvariantCulture) + " chars>";
        }
    }
}

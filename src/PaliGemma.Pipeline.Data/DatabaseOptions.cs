using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Data;

/// <summary>Which database engine holds the result store.</summary>
public enum DatabaseProvider
{
    /// <summary>Embedded default: a SQLite file, one machine, no server.</summary>
    Sqlite,

    /// <summary>Postgres: many workers, change feed with LISTEN/NOTIFY.</summary>
    Postgres,
}

/// <summary>Settings of the "Database" configuration section.</summary>
public sealed class DatabaseOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Database";

    /// <summary>Connection string used for SQLite when none is configured.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=./pgpipe.db";

    /// <summary>Database:Provider — Postgres or Sqlite (default Sqlite).</summary>
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Database:ConnectionString — required for Postgres; SQLite defaults to <see cref="DefaultSqliteConnectionString"/>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Database:CommandRetryLimit — how often one store operation retries a transient Postgres error (a pooled
    /// connection the server dropped, a failover blip) before failing to its caller. Kept small on purpose: longer
    /// outages are the caller's to ride out (Worker:Retry, Producer:Retry), which log each attempt and hold the work
    /// visibly instead of stalling silently inside one call. Default 2.
    /// </summary>
    public int CommandRetryLimit { get; set; } = 2;

    /// <summary>Database:CommandRetryMaxDelayMs — the longest wait between those retries. Default 2000.</summary>
    public int CommandRetryMaxDelayMs { get; set; } = 2000;

    /// <summary>The connection string to use after applying the provider default.</summary>
    public string EffectiveConnectionString =>
        string.IsNullOrWhiteSpace(ConnectionString) && Provider == DatabaseProvider.Sqlite
            ? DefaultSqliteConnectionString
            : ConnectionString ?? string.Empty;
}

/// <summary>Validates <see cref="DatabaseOptions"/> with messages that name the setting.</summary>
public sealed class DatabaseOptionsValidator : IValidateOptions<DatabaseOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DatabaseOptions options)
    {
        if (!Enum.IsDefined(options.Provider))
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:Provider is '{options.Provider}'; expected Postgres or Sqlite.");
        }

        if (options.CommandRetryLimit is < 0 or > 20 || options.CommandRetryMaxDelayMs is < 1 or > 60_000)
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:CommandRetryLimit must be 0-20 and {DatabaseOptions.SectionName}:CommandRetryMaxDelayMs 1-60000; got {options.CommandRetryLimit} and {options.CommandRetryMaxDelayMs}.");
        }

        if (options.Provider == DatabaseProvider.Postgres && string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:ConnectionString is empty; Provider=Postgres needs an Npgsql connection string, e.g. Host=db;Username=pgpipe;Password=...;Database=pgpipe.");
        }

        try
        {
            // Parse now so a typo fails at start-up with the setting's name, not at the first query.
            _ = options.Provider == DatabaseProvider.Postgres
                ? new Npgsql.NpgsqlConnectionStringBuilder(options.EffectiveConnectionString).Host
                : new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(options.EffectiveConnectionString).DataSource;
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:ConnectionString is not a valid {options.Provider} connection string: {ex.Message}");
        }

        return ValidateOptionsResult.Success;
    }
}

using System.CommandLine;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using PaliGemma.Pipeline.Data;

[assembly: InternalsVisibleTo("PaliGemma.Pipeline.Cli.Tests")]

namespace PaliGemma.Pipeline.Cli;

/// <summary>
/// How every pgpipe command finds the result store. Configuration layers, later wins:
/// appsettings.json next to the pgpipe binary, appsettings.json in the working directory, environment variables
/// (<c>Database__Provider</c>, <c>Database__ConnectionString</c>, as for the worker and producer hosts), then the
/// <c>--db</c> option. With nothing configured the store is the embedded SQLite file <c>./pgpipe.db</c> in the
/// working directory.
/// </summary>
public static class StoreAccess
{
    /// <summary>Name of the option that overrides the configured store.</summary>
    public const string DbOptionName = "--db";

    /// <summary>
    /// A new <c>--db</c> option (one per command; System.CommandLine symbols have one parent). Its value is a
    /// connection string (Postgres when it names Host or Server, else SQLite) or a SQLite file path.
    /// </summary>
    public static Option<string?> CreateDbOption() => new(DbOptionName)
    {
        Description = "Result store: a SQLite file path, a SQLite connection string (Data Source=...), or a Postgres connection string (Host=...;Database=...). Overrides Database:Provider/ConnectionString from appsettings.json and Database__* environment variables. Default: ./pgpipe.db.",
        HelpName = "FILE|CONNECTION-STRING",
    };

    /// <summary>Builds the configuration layers described on <see cref="StoreAccess"/>.</summary>
    /// <param name="dbOverride">The <c>--db</c> value, or null.</param>
    /// <param name="warnings">Where a warning about the value goes (the command's error writer).</param>
    public static IConfigurationRoot BuildConfiguration(string? dbOverride, TextWriter warnings) =>
        BuildConfiguration(dbOverride, AppContext.BaseDirectory, Environment.CurrentDirectory, includeEnvironment: true, warnings);

    /// <summary>As <see cref="BuildConfiguration(string?, TextWriter)"/> with explicit folders, so tests need not change the process's working directory.</summary>
    internal static IConfigurationRoot BuildConfiguration(string? dbOverride, string binaryDirectory, string workingDirectory, bool includeEnvironment, TextWriter? warnings = null)
    {
        var builder = new ConfigurationBuilder();
        builder.AddJsonFile(Path.Combine(Path.GetFullPath(binaryDirectory), "appsettings.json"), optional: true, reloadOnChange: false);
        if (!string.Equals(Path.GetFullPath(binaryDirectory).TrimEnd(Path.DirectorySeparatorChar), Path.GetFullPath(workingDirectory).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
        {
            builder.AddJsonFile(Path.Combine(Path.GetFullPath(workingDirectory), "appsettings.json"), optional: true, reloadOnChange: false);
        }

        if (includeEnvironment)
        {
            builder.AddEnvironmentVariables();
        }

        if (!string.IsNullOrWhiteSpace(dbOverride))
        {
            var (provider, connectionString) = InterpretDbOption(dbOverride, workingDirectory, warnings);
            builder.AddInMemoryCollection(new Dictionary<string, string?>
            {
                [$"{DatabaseOptions.SectionName}:{nameof(DatabaseOptions.Provider)}"] = provider.ToString(),
                [$"{DatabaseOptions.SectionName}:{nameof(DatabaseOptions.ConnectionString)}"] = connectionString,
            });
        }

        return builder.Build();
    }

    /// <summary>
    /// Turns a <c>--db</c> value into a provider and connection string: a value with '=' is a connection string
    /// (Postgres when it has a Host or Server key), anything else is a SQLite file path made absolute against
    /// <paramref name="workingDirectory"/>.
    /// </summary>
    internal static (DatabaseProvider Provider, string ConnectionString) InterpretDbOption(string value, string workingDirectory, TextWriter? warnings = null)
    {
        if (!value.Contains('=', StringComparison.Ordinal))
        {
            var path = Path.GetFullPath(value, workingDirectory);
            return (DatabaseProvider.Sqlite, new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = path }.ConnectionString);
        }

        var keys = new DbConnectionStringBuilder();
        try
        {
            keys.ConnectionString = value;
        }
        catch (ArgumentException ex)
        {
            // Neither the value nor the parser's message is echoed: both can hold the password.
            throw new StoreConfigurationException(
                $"{DbOptionName} looks like a connection string (it has '=') but does not parse ({ex.GetType().Name}); expected Key=Value pairs separated by ';' (the value is not repeated here: it may hold a password).", ex);
        }

        if (keys.ContainsKey("Password") || keys.ContainsKey("Pwd"))
        {
            // Command lines are readable by every user of the machine (ps, /proc/PID/cmdline) and land in shell history.
            warnings?.WriteLine(
                $"warning: {DbOptionName} carries a password, which other users can read from the process list; set Database__ConnectionString in the environment or Database:PasswordFile instead.");
        }

        var postgres = keys.ContainsKey("Host") || keys.ContainsKey("Server");
        return (postgres ? DatabaseProvider.Postgres : DatabaseProvider.Sqlite, value);
    }

    /// <summary>Binds and validates the Database section; throws <see cref="StoreConfigurationException"/> naming the setting.</summary>
    public static DatabaseOptions GetDatabaseOptions(IConfiguration configuration)
    {
        var options = new DatabaseOptions();
        try
        {
            configuration.GetSection(DatabaseOptions.SectionName).Bind(options);
        }
        catch (InvalidOperationException ex)
        {
            throw new StoreConfigurationException(
                $"The {DatabaseOptions.SectionName} settings do not bind ({ex.Message}); expected {DatabaseOptions.SectionName}:Provider = Postgres or Sqlite and a {DatabaseOptions.SectionName}:ConnectionString.", ex);
        }

        var validation = new DatabaseOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new StoreConfigurationException(validation.FailureMessage);
        }

        return options;
    }

    /// <summary>
    /// Creates the store for the configured database without touching it (no connection, no file created).
    /// Commands that need an existing, migrated store use <see cref="OpenExistingStoreAsync"/> instead.
    /// </summary>
    public static ResultStore CreateStore(IConfiguration configuration, ILoggerFactory loggerFactory) =>
        CreateStore(GetDatabaseOptions(configuration), loggerFactory);

    /// <summary>Creates the store for already validated options.</summary>
    public static ResultStore CreateStore(DatabaseOptions options, ILoggerFactory loggerFactory) =>
        new(new PipelineDbContextFactory(Options.Create(options)), TimeProvider.System, loggerFactory.CreateLogger<ResultStore>());

    /// <summary>
    /// Creates the store and checks that it exists and is fully migrated, so read commands fail with a hint
    /// instead of "no such table". SQLite: a missing file is reported and never created.
    /// </summary>
    /// <exception cref="StoreConfigurationException">The Database settings are invalid.</exception>
    /// <exception cref="StoreUnavailableException">The store does not exist or is not migrated.</exception>
    public static async Task<ResultStore> OpenExistingStoreAsync(IConfiguration configuration, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var options = GetDatabaseOptions(configuration);
        var where = Describe(options);
        if (options.Provider == DatabaseProvider.Sqlite && SqliteFilePath(options.EffectiveConnectionString) is { } file && !File.Exists(file))
        {
            throw new StoreUnavailableException(
                $"No result store at {file} ({where}). Create it with `pgpipe migrate` (or start one with `pgpipe run`), or point {DbOptionName} / Database:ConnectionString at an existing store.");
        }

        var factory = new PipelineDbContextFactory(Options.Create(options));
        IReadOnlyList<string> applied, pending;
        try
        {
            await using var context = factory.CreateDbContext();
            applied = (await context.Database.GetAppliedMigrationsAsync(cancellationToken).ConfigureAwait(false)).ToList();
            pending = (await context.Database.GetPendingMigrationsAsync(cancellationToken).ConfigureAwait(false)).ToList();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            throw new StoreUnavailableException(
                $"The Postgres database of {where} does not exist ({ex.MessageText}). Create the database, then run `pgpipe migrate`.", ex);
        }

        if (applied.Count == 0)
        {
            throw new StoreUnavailableException(
                $"The result store {where} exists but has no tables. Run `pgpipe migrate` (or `pgpipe run`) first.");
        }

        if (pending.Count > 0)
        {
            throw new StoreUnavailableException(
                $"The result store {where} is missing {pending.Count} migration(s) ({string.Join(", ", pending)}). Run `pgpipe migrate` to update it.");
        }

        return new ResultStore(factory, TimeProvider.System, loggerFactory.CreateLogger<ResultStore>());
    }

    /// <summary>Finds a run by name, else by id when <paramref name="nameOrId"/> is a GUID; null when neither exists.</summary>
    public static async Task<RunInfo?> FindRunAsync(ResultStore store, string nameOrId, CancellationToken cancellationToken)
    {
        // Name first: a run may be named like a GUID, and names are what people type.
        if (await store.GetRunAsync(nameOrId, cancellationToken).ConfigureAwait(false) is { } byName)
        {
            return byName;
        }

        return Guid.TryParse(nameOrId, out var id)
            ? await store.GetRunAsync(id, cancellationToken).ConfigureAwait(false)
            : null;
    }

    /// <summary>"SQLite /path/x.db" or "Postgres host/database", without secrets, for messages.</summary>
    public static string Describe(DatabaseOptions options)
    {
        if (options.Provider == DatabaseProvider.Sqlite)
        {
            return "SQLite " + (SqliteFilePath(options.EffectiveConnectionString) ?? options.EffectiveConnectionString);
        }

        try
        {
            var b = new NpgsqlConnectionStringBuilder(options.ResolveConnectionString());
            return $"Postgres {b.Host}:{b.Port}/{b.Database ?? b.Username}";
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            return "Postgres (unparseable connection string)";
        }
    }

    /// <summary>The absolute file of a SQLite connection string, or null for in-memory and URI data sources.</summary>
    internal static string? SqliteFilePath(string connectionString)
    {
        var b = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(connectionString);
        var source = b.DataSource;
        if (string.IsNullOrEmpty(source) || source == ":memory:" || b.Mode == Microsoft.Data.Sqlite.SqliteOpenMode.Memory ||
            source.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        // SQLite opens relative paths against the process's working directory.
        return Path.GetFullPath(source);
    }
}

/// <summary>The Database settings (or <c>--db</c>) are invalid; the message names the setting and what was expected.</summary>
public sealed class StoreConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreConfigurationException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The configured store does not exist or is not migrated; the message says which command creates it.</summary>
public sealed class StoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

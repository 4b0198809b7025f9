using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Creates the provider-specific <see cref="PipelineDbContext"/> chosen by <see cref="DatabaseOptions"/>.
/// Contexts are short-lived (one per store operation); connections are pooled by the ADO.NET provider.
/// </summary>
public sealed class PipelineDbContextFactory
{
    private readonly DatabaseOptions _options;
    private readonly DbContextOptions<PostgresPipelineDbContext>? _postgres;
    private readonly DbContextOptions<SqlitePipelineDbContext>? _sqlite;
    private readonly string _connectionString;

    /// <summary>Creates the factory for validated options.</summary>
    public PipelineDbContextFactory(IOptions<DatabaseOptions> options)
    {
        _options = options.Value;
        // Read once: the effective string may come from secret files, which are not re-read per context.
        var connectionString = _connectionString = _options.ResolveConnectionString();
        if (_options.Provider == DatabaseProvider.Postgres)
        {
            _postgres = new DbContextOptionsBuilder<PostgresPipelineDbContext>()
                .UseNpgsql(connectionString, o => o.EnableRetryOnFailure(_options.CommandRetryLimit, TimeSpan.FromMilliseconds(_options.CommandRetryMaxDelayMs), null))
                .Options;
        }
        else
        {
            _sqlite = new DbContextOptionsBuilder<SqlitePipelineDbContext>()
                .UseSqlite(connectionString)
                .Options;
        }
    }

    /// <summary>The configured provider.</summary>
    public DatabaseProvider Provider => _options.Provider;

    /// <summary>The connection string in use (provider default, secret files and TLS settings applied); never log it.</summary>
    public string ConnectionString => _connectionString;

    /// <summary>Creates a new context; the caller disposes it.</summary>
    public PipelineDbContext CreateDbContext() =>
        _postgres is not null
            ? new PostgresPipelineDbContext(_postgres)
            : new SqlitePipelineDbContext(_sqlite!);
}

/// <summary>Lets dotnet-ef build the Postgres context (no server is contacted to add a migration).</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresPipelineDbContext>
{
    public PostgresPipelineDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresPipelineDbContext>()
            .UseNpgsql("Host=localhost;Database=pgpipe_design")
            .Options);
}

/// <summary>Lets dotnet-ef build the SQLite context.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqlitePipelineDbContext>
{
    public SqlitePipelineDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqlitePipelineDbContext>()
            .UseSqlite(DatabaseOptions.DefaultSqliteConnectionString)
            .Options);
}

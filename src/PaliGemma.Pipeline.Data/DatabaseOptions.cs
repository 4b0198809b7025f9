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

/// <summary>
/// Settings of the "Database" configuration section. Secrets come from configuration (environment variables such as
/// <c>Database__ConnectionString</c>) or from files (<see cref="ConnectionStringFile"/>, <see cref="PasswordFile"/>: Docker and
/// Kubernetes secret mounts), never from the command line, and are never logged: use <see cref="ToString"/> or
/// <see cref="ConnectionStringRedactor"/> for anything printed.
/// </summary>
public sealed class DatabaseOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Database";

    /// <summary>Connection string used for SQLite when none is configured.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=./pgpipe.db";

    /// <summary>Database:Provider — Postgres or Sqlite (default Sqlite).</summary>
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>Database:ConnectionString — required for Postgres (or <see cref="ConnectionStringFile"/>); SQLite defaults to <see cref="DefaultSqliteConnectionString"/>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Database:ConnectionStringFile — a file holding the whole connection string (e.g. /run/secrets/pgpipe-db), read
    /// when <see cref="ConnectionString"/> is empty. Trailing line breaks are ignored.
    /// </summary>
    public string? ConnectionStringFile { get; set; }

    /// <summary>
    /// Database:PasswordFile — a file holding the Postgres password, which replaces any Password in the connection
    /// string, so the connection string itself can live in a ConfigMap. Trailing line breaks are ignored. (Npgsql also
    /// honours PGPASSWORD and a pgpass file named by PGPASSFILE or the Passfile key.)
    /// </summary>
    public string? PasswordFile { get; set; }

    /// <summary>
    /// Database:SslMode — Postgres TLS: Disable, Allow, Prefer, Require, VerifyCA or VerifyFull (Npgsql's SSL Mode);
    /// overrides the connection string's. VerifyFull checks the server certificate and host name against
    /// <see cref="RootCertificate"/> (or the system roots).
    /// </summary>
    public string? SslMode { get; set; }

    /// <summary>Database:RootCertificate — PEM file of the CA that signed the Postgres server certificate (Npgsql's Root Certificate).</summary>
    public string? RootCertificate { get; set; }

    /// <summary>
    /// Database:WorkerRole — an existing Postgres role that `pgpipe migrate` grants exactly the worker's privileges
    /// (see <see cref="DatabaseRoles"/>). Workers then connect as a login role that is, or is a member of, it.
    /// </summary>
    public string? WorkerRole { get; set; }

    /// <summary>Database:ProducerRole — an existing role that `pgpipe migrate` grants the producer's privileges.</summary>
    public string? ProducerRole { get; set; }

    /// <summary>Database:ReaderRole — an existing role that `pgpipe migrate` grants read-only access (status, search, export).</summary>
    public string? ReaderRole { get; set; }

    /// <summary>The roles to grant, from <see cref="WorkerRole"/>, <see cref="ProducerRole"/> and <see cref="ReaderRole"/>.</summary>
    public DatabaseRoleGrants RoleGrants => new(WorkerRole, ProducerRole, ReaderRole);

    /// <summary>
    /// Database:CommandRetryLimit — how often one store operation retries a transient Postgres error (a pooled
    /// connection the server dropped, a failover blip) before failing to its caller. Kept small on purpose: longer
    /// outages are the caller's to ride out (Worker:Retry, Producer:Retry), which log each attempt and hold the work
    /// visibly instead of stalling silently inside one call. Default 2.
    /// </summary>
    public int CommandRetryLimit { get; set; } = 2;

    /// <summary>Database:CommandRetryMaxDelayMs — the longest wait between those retries. Default 2000.</summary>
    public int CommandRetryMaxDelayMs { get; set; } = 2000;

    /// <summary>The configured connection string, or the SQLite default; no secret files applied (see <see cref="ResolveConnectionString"/>).</summary>
    public string EffectiveConnectionString =>
        string.IsNullOrWhiteSpace(ConnectionString) && Provider == DatabaseProvider.Sqlite && string.IsNullOrWhiteSpace(ConnectionStringFile)
            ? DefaultSqliteConnectionString
            : ConnectionString ?? string.Empty;

    /// <summary>
    /// The connection string to connect with: the configured one (or <see cref="ConnectionStringFile"/>'s, or the SQLite
    /// default), with the password from <see cref="PasswordFile"/> and the TLS settings applied. A method, not a
    /// property, because it reads files (binders and validators read every property). Contains the password: never log it.
    /// </summary>
    /// <exception cref="InvalidOperationException">A secret file cannot be read; the message names the setting.</exception>
    public string ResolveConnectionString()
    {
        var configured = !string.IsNullOrWhiteSpace(ConnectionString) ? ConnectionString
            : !string.IsNullOrWhiteSpace(ConnectionStringFile) ? SecretFile.Read(ConnectionStringFile, $"{SectionName}:{nameof(ConnectionStringFile)}")
            : null;
        if (configured is null)
        {
            return Provider == DatabaseProvider.Sqlite ? DefaultSqliteConnectionString : string.Empty;
        }

        if (Provider != DatabaseProvider.Postgres
            || (string.IsNullOrWhiteSpace(PasswordFile) && string.IsNullOrWhiteSpace(SslMode) && string.IsNullOrWhiteSpace(RootCertificate)))
        {
            return configured;
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder(configured);
        if (!string.IsNullOrWhiteSpace(PasswordFile))
        {
            builder.Password = SecretFile.Read(PasswordFile, $"{SectionName}:{nameof(PasswordFile)}");
        }

        if (!string.IsNullOrWhiteSpace(SslMode))
        {
            builder.SslMode = Enum.Parse<Npgsql.SslMode>(SslMode, ignoreCase: true);
        }

        if (!string.IsNullOrWhiteSpace(RootCertificate))
        {
            builder.RootCertificate = RootCertificate;
        }

        return builder.ConnectionString;
    }

    /// <summary>The effective connection string with its password masked, for messages.</summary>
    public override string ToString() => $"{Provider}: {ConnectionStringRedactor.Redact(SafeEffective())}";

    private string SafeEffective()
    {
        try
        {
            return ResolveConnectionString();
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            return ConnectionString ?? string.Empty;
        }
    }
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

        if (options.Provider == DatabaseProvider.Postgres && string.IsNullOrWhiteSpace(options.ConnectionString) && string.IsNullOrWhiteSpace(options.ConnectionStringFile))
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:ConnectionString is empty; Provider=Postgres needs an Npgsql connection string, e.g. Host=db;Username=pgpipe;Database=pgpipe (password from {DatabaseOptions.SectionName}:PasswordFile or in the string), or {DatabaseOptions.SectionName}:ConnectionStringFile.");
        }

        if (options.Provider != DatabaseProvider.Postgres
            && (!string.IsNullOrWhiteSpace(options.PasswordFile) || !string.IsNullOrWhiteSpace(options.SslMode) || !string.IsNullOrWhiteSpace(options.RootCertificate)))
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:PasswordFile, SslMode and RootCertificate apply to Provider=Postgres only; Provider is {options.Provider}.");
        }

        if (options.Provider != DatabaseProvider.Postgres && !options.RoleGrants.IsEmpty)
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:WorkerRole, ProducerRole and ReaderRole are Postgres roles; SQLite has no roles (Provider is {options.Provider}).");
        }

        try
        {
            _ = DatabaseRoles.GrantStatements(options.RoleGrants);
        }
        catch (ArgumentException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }

        if (!string.IsNullOrWhiteSpace(options.SslMode) && !Enum.TryParse<Npgsql.SslMode>(options.SslMode, ignoreCase: true, out _))
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:SslMode is '{options.SslMode}'; expected one of {string.Join(", ", Enum.GetNames<Npgsql.SslMode>())}.");
        }

        if (!string.IsNullOrWhiteSpace(options.RootCertificate) && !File.Exists(options.RootCertificate))
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:RootCertificate names '{options.RootCertificate}', which does not exist; expected a PEM file with the CA that signed the server certificate.");
        }

        try
        {
            // Parse now so a typo fails at start-up with the setting's name, not at the first query. The parser's
            // message is not passed on: for a malformed string it may quote the text around the error, password included.
            var effective = options.ResolveConnectionString();
            _ = options.Provider == DatabaseProvider.Postgres
                ? new Npgsql.NpgsqlConnectionStringBuilder(effective).Host
                : new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(effective).DataSource;
        }
        catch (InvalidOperationException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException or OverflowException)
        {
            return ValidateOptionsResult.Fail(
                $"{DatabaseOptions.SectionName}:ConnectionString is not a valid {options.Provider} connection string ({ex.GetType().Name}); check the Key=Value;... syntax, key names and values. Keys given: {KeysOf(options.ConnectionString)}.");
        }

        return ValidateOptionsResult.Success;
    }

    /// <summary>Only the key names of a Key=Value string: values (and a misspelled Password key's value) stay out of messages.</summary>
    private static string KeysOf(string? connectionString) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? "(none)"
            : string.Join(", ", connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(part => part.Contains('=', StringComparison.Ordinal) ? part.Split('=', 2)[0].Trim() : "?")
                .Select(key => key.Length is > 0 and <= 40 && key.All(c => char.IsLetterOrDigit(c) || c == ' ') ? key : "?"));
}

using Npgsql;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Data.Tests;

/// <summary>
/// Database secrets from files, TLS settings reaching the Npgsql connection string, and no validation message or
/// redacted description that shows a password.
/// </summary>
public sealed class DatabaseSecretsAndTlsTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IDisposable
{
    private const string Secret = "Sup3r-Secret;pw";
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-db-secrets-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void PasswordFile_replaces_the_password_and_drops_the_trailing_newline()
    {
        var options = new DatabaseOptions
        {
            Provider = DatabaseProvider.Postgres,
            ConnectionString = "Host=db;Username=pgpipe;Password=from-config;Database=pgpipe",
            PasswordFile = Write("pg-password", Secret + "\n"),
        };

        var effective = new NpgsqlConnectionStringBuilder(options.ResolveConnectionString());

        Assert.Equal(Secret, effective.Password);
        Assert.Equal("db", effective.Host);
        Assert.True(new DatabaseOptionsValidator().Validate(null, options).Succeeded);
        Assert.DoesNotContain("Sup3r", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ConnectionStringFile_is_read_when_no_connection_string_is_configured()
    {
        var options = new DatabaseOptions
        {
            Provider = DatabaseProvider.Postgres,
            ConnectionStringFile = Write("pg-conn", $"Host=db;Username=pgpipe;Password={Secret.Replace(";", "", StringComparison.Ordinal)}\r\n"),
        };

        Assert.True(new DatabaseOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal("Sup3r-Secretpw", new NpgsqlConnectionStringBuilder(options.ResolveConnectionString()).Password);
    }

    [Fact]
    public void A_missing_secret_file_fails_validation_naming_the_setting()
    {
        var options = new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = "Host=db", PasswordFile = Path.Combine(_folder, "absent") };

        var result = new DatabaseOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Database:PasswordFile", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void SslMode_and_RootCertificate_reach_the_connection_string()
    {
        var root = Write("root.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
        var options = new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = "Host=db;SSL Mode=Disable", SslMode = "verifyfull", RootCertificate = root };

        Assert.True(new DatabaseOptionsValidator().Validate(null, options).Succeeded);
        var effective = new NpgsqlConnectionStringBuilder(options.ResolveConnectionString());
        Assert.Equal(SslMode.VerifyFull, effective.SslMode);
        Assert.Equal(root, effective.RootCertificate);
    }

    [Theory]
    [InlineData("Sometimes", null, "Database:SslMode")]
    [InlineData("Require", "absent.pem", "Database:RootCertificate")]
    public void Bad_tls_settings_fail_validation_naming_the_setting(string sslMode, string? rootCertificate, string setting)
    {
        var options = new DatabaseOptions
        {
            Provider = DatabaseProvider.Postgres,
            ConnectionString = "Host=db",
            SslMode = sslMode,
            RootCertificate = rootCertificate is null ? null : Path.Combine(_folder, rootCertificate),
        };

        var result = new DatabaseOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=db;Password=Sup3rSecret;Port=not-a-port")]
    [InlineData("Host=db;Password=\"Sup3rSecret")]
    [InlineData("Host=db;Pasword=Sup3rSecret")]
    [InlineData("Host=db;Password=Sup3rSecret;Nonsense")]
    public void Validation_of_a_malformed_connection_string_never_shows_its_password(string connectionString)
    {
        var options = new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = connectionString };

        var result = new DatabaseOptionsValidator().Validate(null, options);

        Assert.True(result.Failed, connectionString);
        Assert.Contains("Database:ConnectionString", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("Sup3rSecret", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=db;Password=abc;Database=x", "Host=db;Password=***;Database=x")]
    [InlineData("host=db; pwd = abc ;x=1", "host=db; pwd = ***;x=1")]
    [InlineData("Host=db;Password=\"a;b\";Database=x", "Host=db;Password=***;Database=x")]
    [InlineData("SSL Password=k3y;Host=db", "SSL Password=***;Host=db")]
    [InlineData("connect amqp://user:p%40ss@rabbit:5672/vh failed", "connect amqp://user:***@rabbit:5672/vh failed")]
    [InlineData("http://minio:9000/bucket", "http://minio:9000/bucket")]
    [InlineData("no secrets here", "no secrets here")]
    public void Redactor_masks_passwords_in_connection_strings_and_uris(string text, string expected) =>
        Assert.Equal(expected, ConnectionStringRedactor.Redact(text));

    [SkippableFact]
    public async Task SslMode_and_RootCertificate_decide_the_real_connection()
    {
        Skip.If(fixture.SkipReason is not null, fixture.SkipReason);
        var password = new NpgsqlConnectionStringBuilder(fixture.ConnectionString).Password!;
        string serverSsl;
        await using (var plain = new NpgsqlConnection(fixture.ConnectionString))
        {
            await plain.OpenAsync();
            await using var show = new NpgsqlCommand("SHOW ssl", plain);
            serverSsl = (string)(await show.ExecuteScalarAsync())!;
        }

        var require = new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = fixture.ConnectionString, SslMode = "Require" };
        if (serverSsl != "on")
        {
            // A server without TLS: Require fails instead of silently falling back to plain text.
            var refused = await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(require));
            Assert.Contains("SSL", refused.ToString(), StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain($"Password={password}", refused.ToString(), StringComparison.Ordinal);
            return;
        }

        // A server with TLS (Debian's default snakeoil certificate): Require encrypts the session...
        await using (var connection = await OpenAsync(require))
        {
            await using var ssl = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", connection);
            Assert.True((bool)(await ssl.ExecuteScalarAsync())!);
        }

        // ...and VerifyFull against a CA that did not sign the server certificate refuses to connect.
        using var ca = new TestCertificateAuthority("not the server's CA");
        var verify = new DatabaseOptions
        {
            Provider = DatabaseProvider.Postgres,
            ConnectionString = fixture.ConnectionString,
            SslMode = "VerifyFull",
            RootCertificate = ca.WritePem(Path.Combine(_folder, "other-ca.pem")),
        };
        var untrusted = await Assert.ThrowsAnyAsync<Exception>(() => OpenAsync(verify));
        Assert.True(untrusted is NpgsqlException or System.Security.Authentication.AuthenticationException, untrusted.ToString());
        Assert.DoesNotContain($"Password={password}", untrusted.ToString(), StringComparison.Ordinal);
    }

    private static async Task<NpgsqlConnection> OpenAsync(DatabaseOptions options)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(options.ResolveConnectionString()) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync();
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        return path;
    }
}

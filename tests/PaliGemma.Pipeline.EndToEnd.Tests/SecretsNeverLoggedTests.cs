using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Npgsql;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// Runs the real pgpipe processes (migrate, enqueue, worker, status, run) with known, distinctive secrets — a Postgres
/// role and a RabbitMQ user created for this test, an S3 secret key — given through environment variables and through
/// *File settings, on success paths and on failure paths (wrong host, wrong password, malformed connection string,
/// rejected S3 signature) at Debug log level, and asserts that no line any of them printed contains a secret.
/// </summary>
public sealed class SecretsNeverLoggedTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>, IAsyncLifetime
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(120);

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-secrets-").FullName;
    private readonly List<PgpipeProcess> _processes = [];
    private string? _admin;
    private string? _vhost;

    private string Role => "pgpipe_sec_" + _suffix;
    private string Database => "pgpipe_sec_" + _suffix;
    private string MqUser => "pgpipe-sec-" + _suffix;

    // Distinctive, so a match can only be a leak; each also appears as a "wrong" variant on failure paths.
    private string PgSecret => "PgSecret-" + _suffix + "-Zq7";
    private string PgWrong => "PgWrong-" + _suffix + "-Xk2";
    private string MqSecret => "MqSecret-" + _suffix + "-Vw4";
    private string MqWrong => "MqWrong-" + _suffix + "-Jh9";
    private string S3Secret => "S3Secret-" + _suffix + "-Rt5";

    public async Task InitializeAsync()
    {
        if (services.SkipReason is not null)
        {
            return;
        }

        _admin = new NpgsqlConnectionStringBuilder(services.Postgres.ConnectionString) { Database = "postgres" }.ConnectionString;
        await AdminSqlAsync(_admin, $"CREATE ROLE \"{Role}\" LOGIN PASSWORD '{PgSecret}'");
        await AdminSqlAsync(_admin, $"CREATE DATABASE \"{Database}\"");
        await AdminSqlAsync(new NpgsqlConnectionStringBuilder(_admin) { Database = Database }.ConnectionString, $"GRANT CREATE ON SCHEMA public TO \"{Role}\"");

        var management = services.RabbitMq.Management;
        _vhost = "t-secrets-" + _suffix;
        await EnsureAsync(await management.PutAsJsonAsync($"api/users/{MqUser}", new { password = MqSecret, tags = "" }), "create RabbitMQ user");
        await EnsureAsync(await management.PutAsync($"api/vhosts/{_vhost}", JsonContent.Create(new { })), "create virtual host");
        await EnsureAsync(await management.PutAsJsonAsync($"api/permissions/{_vhost}/{MqUser}", new { configure = ".*", write = ".*", read = ".*" }), "grant permissions");
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            // The tail is enough to see how each command ended; the full logs were checked line by line.
            output.WriteLine(string.Join('\n', process.Log.Split('\n').TakeLast(15)));
            process.Dispose();
        }

        if (_admin is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await AdminSqlAsync(_admin, $"DROP DATABASE IF EXISTS \"{Database}\" WITH (FORCE)");
            await AdminSqlAsync(_admin, $"DROP ROLE IF EXISTS \"{Role}\"");
            (await services.RabbitMq.Management.DeleteAsync($"api/vhosts/{_vhost}")).Dispose();
            (await services.RabbitMq.Management.DeleteAsync($"api/users/{MqUser}")).Dispose();
        }

        Directory.Delete(_folder, recursive: true);
    }

    [SkippableFact]
    public async Task No_output_line_of_any_command_contains_a_secret()
    {
        Skip.If(services.SkipReason is not null, services.SkipReason);

        // Given images in a local folder, secret files, and settings as a deployment gives them
        var images = Directory.CreateDirectory(Path.Combine(_folder, "images")).FullName;
        for (var i = 0; i < 3; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(images, $"img{i}.png"), Images.Png(i));
        }

        var pgPasswordFile = Secret("pg-password", PgSecret + "\n");
        var mqPasswordFile = Secret("mq-password", MqSecret + "\n");
        var s3SecretFile = Secret("s3-secret", S3Secret + "\n");
        var amqp = services.RabbitMq.AmqpUri;
        var connection = new NpgsqlConnectionStringBuilder(_admin) { Database = Database, Username = Role, Password = null }.ConnectionString;
        var withPassword = new NpgsqlConnectionStringBuilder(connection) { Password = PgSecret }.ConnectionString;
        var common = new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Debug",
            ["Logging__LogLevel__Microsoft"] = "Debug",
            ["Messaging__Transport"] = "RabbitMq",
            ["Messaging__Host"] = amqp.Host,
            ["Messaging__Port"] = (amqp.IsDefaultPort || amqp.Port < 0 ? 5672 : amqp.Port).ToString(CultureInfo.InvariantCulture),
            ["Messaging__VirtualHost"] = _vhost!,
            ["Messaging__Username"] = MqUser,
            ["Database__Provider"] = "Postgres",
            ["Worker__LocalRoot"] = images,
            ["Worker__BatchTimeLimitMs"] = "100",
            ["Inference__IntraOpThreads"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        var fromFiles = With(common, ("Database__ConnectionString", connection), ("Database__PasswordFile", pgPasswordFile), ("Messaging__PasswordFile", mqPasswordFile));
        var fromEnvironment = With(common, ("Database__ConnectionString", withPassword), ("Messaging__Password", MqSecret));
        string[] tasks = ["--task", "caption en", "--max-new-tokens", "4", "--model", PipelineRun.TinyModel];

        // When the success path runs: migrate and enqueue with secrets from files, a worker with secrets from the environment
        await ExpectAsync("migrate", fromFiles, 0, "migrate");
        await ExpectAsync("enqueue", fromFiles, 0, ["enqueue", images, .. tasks, "--run", "secrets"]);
        var worker = Start("worker", fromEnvironment, "worker", "--model", PipelineRun.TinyModel);
        await WaitForResultsAsync(withPassword, 3, worker);
        worker.Terminate();
        Assert.Equal(0, await worker.WaitForExitAsync(ProcessTimeout));
        var status = await ExpectAsync("status", fromEnvironment, 0, "status", "secrets", "--json");
        Assert.Contains("\"done\":3", status.StandardOutput, StringComparison.Ordinal);

        // And the failure paths run: wrong password, unreachable host, malformed strings, a broker that refuses the
        // login, an S3 server that rejects the signature
        await ExpectFailureAsync("migrate-wrong-password", With(common, ("Database__ConnectionString", new NpgsqlConnectionStringBuilder(connection) { Password = PgWrong }.ConnectionString)), "migrate");
        await ExpectFailureAsync("migrate-wrong-host", With(common, ("Database__ConnectionString", new NpgsqlConnectionStringBuilder(withPassword) { Host = "pgpipe-no-such-host.invalid", Timeout = 3 }.ConnectionString)), "migrate");
        await ExpectFailureAsync("status-malformed", With(common, ("Database__ConnectionString", $"Host=127.0.0.1;Password={PgSecret};Port=not-a-port")), "status");
        await ExpectFailureAsync("status-unparseable", With(common, ("Database__ConnectionString", $"Host=127.0.0.1;Password=\"{PgSecret}")), "status");
        await ExpectFailureAsync("status-db-option", common, "status", "--db", $"Host=127.0.0.1;Password='{PgWrong};Port");
        await ExpectFailureAsync("status-wrong-password", With(common, ("Database__ConnectionString", new NpgsqlConnectionStringBuilder(connection) { Password = PgWrong }.ConnectionString)), "status");
        await ExpectFailureAsync("enqueue-wrong-broker-password", With(fromFiles, ("Messaging__PasswordFile", Secret("mq-wrong", MqWrong))), ["enqueue", images, "--task", "ocr", "--model", PipelineRun.TinyModel, "--run", "secrets-2"]);
        await ExpectFailureAsync("enqueue-s3-rejected", With(fromFiles, ("S3__ServiceUrl", services.S3.ServiceUrl), ("S3__AccessKey", "pgpipe-sec"), ("S3__SecretKeyFile", s3SecretFile)),
            ["enqueue", $"s3://pgpipe-secrets-{_suffix}/", .. tasks]);
        await ExpectFailureAsync("run-s3-rejected", With(common, ("S3__ServiceUrl", services.S3.ServiceUrl), ("S3__AccessKey", "pgpipe-sec"), ("S3__SecretKey", S3Secret)),
            ["run", $"s3://pgpipe-secrets-{_suffix}/", .. tasks, "--db", Path.Combine(_folder, "embedded.db"), "--stall-timeout", "5"]);
        var refused = Start("worker-wrong-broker-password", With(fromEnvironment, ("Messaging__Password", MqWrong)), "worker", "--model", PipelineRun.TinyModel);
        await Task.Delay(TimeSpan.FromSeconds(8));
        refused.KillHard();
        await refused.WaitForExitAsync(ProcessTimeout);

        // Then no line of any process contains a secret, in clear or in the forms a URI or HTTP header would carry
        string[] secrets = [PgSecret, PgWrong, MqSecret, MqWrong, S3Secret];
        var forms = secrets.SelectMany(s => new[] { s, Uri.EscapeDataString(s), Convert.ToBase64String(Encoding.UTF8.GetBytes(s)) }).Distinct().ToList();
        var leaks = new List<string>();
        var lines = 0;
        foreach (var process in _processes)
        {
            foreach (var line in process.Log.Split('\n'))
            {
                lines++;
                leaks.AddRange(forms.Where(f => line.Contains(f, StringComparison.Ordinal)).Select(f => $"{process.Name}: {line.Trim()}"));
            }
        }

        output.WriteLine($"{_processes.Count} processes, {lines} output lines checked for {forms.Count} secret forms.");
        Assert.True(leaks.Count == 0, "Secrets printed:\n" + string.Join('\n', leaks));
        // And the checks had something to look at: the failures explained themselves
        Assert.Contains(_processes, p => p.Name == "migrate-wrong-password" && p.Log.Contains("28P01", StringComparison.Ordinal));
        Assert.Contains(_processes, p => p.Name == "status-malformed" && p.Log.Contains("Database:ConnectionString", StringComparison.Ordinal));
    }

    private Dictionary<string, string> With(Dictionary<string, string> settings, params (string Key, string Value)[] changes)
    {
        var copy = new Dictionary<string, string>(settings);
        foreach (var (key, value) in changes)
        {
            copy[key] = value;
        }

        return copy;
    }

    private string Secret(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    private PgpipeProcess Start(string name, Dictionary<string, string> environment, params string[] args)
    {
        var process = PgpipeProcess.Start(name, environment, args);
        _processes.Add(process);
        return process;
    }

    private async Task<PgpipeProcess> ExpectAsync(string name, Dictionary<string, string> environment, int exitCode, params string[] args)
    {
        var process = Start(name, environment, args);
        var code = await process.WaitForExitAsync(ProcessTimeout);
        Assert.True(code == exitCode, $"{name} exited with {code}, expected {exitCode}:\n{process.Log}");
        return process;
    }

    /// <summary>Runs a command that must not succeed; one still retrying after 30 s (a broker refusing the login) is stopped.</summary>
    private async Task ExpectFailureAsync(string name, Dictionary<string, string> environment, params string[] args)
    {
        var process = Start(name, environment, args);
        try
        {
            var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.True(code != 0, $"{name} was expected to fail but exited with 0:\n{process.Log}");
        }
        catch (TimeoutException)
        {
            process.KillHard();
            await process.WaitForExitAsync(ProcessTimeout);
        }
    }

    private async Task WaitForResultsAsync(string connectionString, int expected, PgpipeProcess worker)
    {
        var deadline = DateTime.UtcNow + ProcessTimeout;
        while (true)
        {
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync();
                await using var count = new NpgsqlCommand("SELECT (SELECT COUNT(*) FROM results) + (SELECT COUNT(*) FROM failures)", connection);
                if ((long)(await count.ExecuteScalarAsync())! >= expected)
                {
                    return;
                }
            }

            Assert.False(worker.HasExited, $"worker exited early:\n{worker.Log}");
            Assert.True(DateTime.UtcNow < deadline, $"no {expected} results within {ProcessTimeout}:\n{worker.Log}");
            await Task.Delay(250);
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        using (response)
        {
            Assert.True(response.IsSuccessStatusCode, $"RabbitMQ management: {what} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task AdminSqlAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// The mistakes a new operator makes, tried as they would: the real pgpipe binary as a process, configured through
/// the environment, against the real Postgres and RabbitMQ on loopback with a wrong password, a database without the
/// schema, or a free port nothing listens on. Every command that meets the mistake answers within 30 s with exactly
/// one line on stderr (no stack trace) and the exit code the README's table documents.
/// </summary>
public sealed class OperatorMistakeTests(PostgresFixture postgres, RabbitMqFixture rabbit, ITestOutputHelper output)
    : IClassFixture<PostgresFixture>, IClassFixture<RabbitMqFixture>
{
    private static readonly string TinyModel = Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "models", "tiny");

    public static TheoryData<string, string, int> Cases()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var command in new[] { "enqueue", "worker", "run", "status", "search", "export", "changes", "migrate" })
        {
            // A wrong password is a configuration error everywhere.
            data.Add(command, "wrong-postgres-password", 2);
            if (command != "worker")
            {
                // A worker rides out an outage at start, as it does one during work; every other command says so at once.
                data.Add(command, "postgres-unreachable", 4);
            }

            if (command != "migrate")
            {
                data.Add(command, "store-without-schema", 3);
            }
        }

        data.Add("enqueue", "wrong-rabbitmq-password", 2);
        data.Add("worker", "wrong-rabbitmq-password", 2);
        data.Add("enqueue", "rabbitmq-unreachable", 4);
        data.Add("enqueue", "s3-endpoint-down", 4);
        data.Add("run", "s3-endpoint-down", 4);
        data.Add("worker", "missing-model-folder", 2);
        data.Add("run", "missing-model-folder", 2);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public async Task A_mistake_gets_one_line_and_its_exit_code_fast(string command, string mistake, int expectedExit)
    {
        // Given a migrated store and a broker that work, with one thing wrong
        Skip.If(postgres.SkipReason is not null, postgres.SkipReason);
        Skip.If(rabbit.SkipReason is not null, rabbit.SkipReason);
        var environment = await WorkingEnvironmentAsync();
        var folder = Directory.CreateTempSubdirectory("pgpipe-mistake-").FullName;
        try
        {
            var images = Directory.CreateDirectory(Path.Combine(folder, "images")).FullName;
            File.Copy(Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "images", "42x42-shapes.png"), Path.Combine(images, "a.png"));
            var source = images;
            var model = TinyModel;
            switch (mistake)
            {
                case "wrong-postgres-password":
                    environment["Database__ConnectionString"] = new NpgsqlConnectionStringBuilder(environment["Database__ConnectionString"]) { Password = "not-the-password" }.ConnectionString;
                    break;
                case "postgres-unreachable":
                    environment["Database__ConnectionString"] = new NpgsqlConnectionStringBuilder(environment["Database__ConnectionString"]) { Host = "127.0.0.1", Port = FreePort() }.ConnectionString;
                    break;
                case "store-without-schema":
                    environment["Database__ConnectionString"] = await postgres.CreateDatabaseAsync();
                    break;
                case "wrong-rabbitmq-password":
                    environment["Messaging__Password"] = "not-the-password";
                    break;
                case "rabbitmq-unreachable":
                    environment["Messaging__Port"] = FreePort().ToString(CultureInfo.InvariantCulture);
                    break;
                case "s3-endpoint-down":
                    environment["S3__ServiceUrl"] = $"http://127.0.0.1:{FreePort()}";
                    environment["S3__AccessKey"] = "pgpipe";
                    environment["S3__SecretKey"] = "pgpipe-secret";
                    source = "s3://pgpipe-mistakes/photos/";
                    break;
                case "missing-model-folder":
                    model = Path.Combine(folder, "no-such-model");
                    break;
                default:
                    throw new ArgumentException($"unknown mistake {mistake}", nameof(mistake));
            }

            string[] args = command switch
            {
                "enqueue" => ["enqueue", source, "--task", "caption en", "--model", "tiny"],
                "worker" => ["worker", "--model", model],
                "run" => ["run", source, "--task", "caption en", "--model", model, "--stall-timeout", "30"],
                "status" => ["status"],
                "search" => ["search", "cat"],
                "export" => ["export", "nightly"],
                "changes" => ["changes"],
                _ => ["migrate"],
            };

            // When the command runs
            var clock = Stopwatch.StartNew();
            using var process = PgpipeProcess.StartIn($"{command}-{mistake}", environment, folder, args);
            int exit;
            try
            {
                exit = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                process.KillHard();
            }

            clock.Stop();
            output.WriteLine($"{command} with {mistake}: exit {exit} in {clock.Elapsed.TotalSeconds:0.00} s\n{process.Log}");

            // Then it answers within 30 s with the documented code and one line that is not a stack trace
            var stderr = process.Log.Split('\n').Where(l => l.Contains(" err: ", StringComparison.Ordinal)).ToList();
            Assert.True(exit == expectedExit, $"exit {exit}, expected {expectedExit}:\n{process.Log}");
            var line = Assert.Single(stderr);
            Assert.Contains(" err: error: ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("not-the-password", line, StringComparison.Ordinal);
            Assert.Equal(string.Empty, process.StandardOutput);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Settings under which every command works: a migrated database of its own, the broker, no S3.</summary>
    private async Task<Dictionary<string, string>> WorkingEnvironmentAsync()
    {
        var database = await postgres.CreateDatabaseAsync();
        using (var migrate = PgpipeProcess.Start("migrate", new Dictionary<string, string>
        {
            ["DOTNET_NOLOGO"] = "1",
            ["Database__Provider"] = "Postgres",
            ["Database__ConnectionString"] = database,
        }, "migrate"))
        {
            Assert.True(await migrate.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, migrate.Log);
        }

        var amqp = rabbit.AmqpUri;
        return new Dictionary<string, string>
        {
            ["DOTNET_NOLOGO"] = "1",
            ["Database__Provider"] = "Postgres",
            ["Database__ConnectionString"] = database,
            // No Messaging__Transport: enqueue and worker default to RabbitMQ, run to its in-memory bus, as for a new user.
            ["Messaging__Host"] = amqp.Host,
            ["Messaging__Port"] = (amqp.IsDefaultPort || amqp.Port < 0 ? 5672 : amqp.Port).ToString(CultureInfo.InvariantCulture),
            ["Messaging__Username"] = rabbit.Username,
            ["Messaging__Password"] = rabbit.Password,
            ["Observability__Port"] = "0",
        };
    }

    /// <summary>A loopback port nothing listens on: bound by the system, then released.</summary>
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// How a test fixture finds a real service: an environment variable set by .ci/run, else a Testcontainers
/// container when a Docker engine exists. In CI (CI=true) a missing service is a failure, never a skip.
/// </summary>
public static class ServiceRequirement
{
    /// <summary>Environment variable holding an Npgsql connection string to a server where tests may create databases.</summary>
    public const string PostgresVariable = "PGPIPE_TEST_POSTGRES";

    /// <summary>Environment variable holding an AMQP URI, e.g. amqp://guest:guest@127.0.0.1:5672/.</summary>
    public const string RabbitMqVariable = "PGPIPE_TEST_RABBITMQ";

    /// <summary>Environment variable holding the RabbitMQ management API base URI, e.g. http://127.0.0.1:15672.</summary>
    public const string RabbitMqManagementVariable = "PGPIPE_TEST_RABBITMQ_MGMT";

    /// <summary>Environment variable holding an S3-compatible endpoint, e.g. http://127.0.0.1:4569.</summary>
    public const string S3Variable = "PGPIPE_TEST_S3";

    /// <summary>True when running under CI, where every service must be present.</summary>
    public static bool IsCi =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when a Docker engine socket is reachable, so Testcontainers can start services.</summary>
    public static bool DockerAvailable =>
        File.Exists("/var/run/docker.sock") || Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 };
}

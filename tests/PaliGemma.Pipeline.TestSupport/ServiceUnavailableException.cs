namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// A test needed a real service that is not there (not configured, or it failed to start). Thrown at first use so the
/// failing test, not an opaque fixture crash, carries the explanation.
/// </summary>
public sealed class ServiceUnavailableException : Exception
{
    /// <summary>Creates the exception with a message that says what is missing and how to provide it.</summary>
    public ServiceUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>Decides, before any fixture starts, whether a service can be had at all.</summary>
public static class ServiceAvailability
{
    /// <summary>
    /// Null when <paramref name="variable"/> is set, a Docker engine is present, or we run in CI (where a missing
    /// service must fail, not skip); otherwise a message saying how to provide <paramref name="service"/>.
    /// </summary>
    public static string? SkipReason(string variable, string service) =>
        !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(variable)) || ServiceRequirement.DockerAvailable || ServiceRequirement.IsCi
            ? null
            : $"{service} not available: set {variable} (run .ci/services.sh as root, then 'source .ci/services.env') " +
              "or provide a Docker engine so Testcontainers can start one.";

    /// <summary>The explanation used when CI runs without the service: a failure, never a skip.</summary>
    public static string MissingInCi(string variable, string service) =>
        $"{service} missing under CI=true: {variable} is not set and no Docker engine was found. " +
        ".ci/run must start the service (see .ci/services.sh) and export the variable before running the tests.";
}

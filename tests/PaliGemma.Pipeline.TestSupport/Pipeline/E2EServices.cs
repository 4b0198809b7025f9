using Xunit.Abstractions;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// The three real services of a distributed deployment (Postgres, RabbitMQ with management, an S3 server), from
/// .ci/services.sh's PGPIPE_TEST_* variables or Testcontainers. Each test takes a fresh database, virtual host and
/// bucket from them (see <see cref="PipelineRun"/>), so nothing one test leaves behind can count in another.
/// </summary>
public sealed class E2EServices : IAsyncLifetime
{
    public E2EServices(IMessageSink diagnostics)
    {
        RabbitMq = new RabbitMqFixture(diagnostics);
        S3 = new S3ServerFixture(diagnostics);
    }

    public PostgresFixture Postgres { get; } = new();

    public RabbitMqFixture RabbitMq { get; }

    public S3ServerFixture S3 { get; }

    /// <summary>Why the tests must skip (a service missing outside CI), or null.</summary>
    public string? SkipReason => Postgres.SkipReason ?? RabbitMq.SkipReason ?? S3.SkipReason;

    public async Task InitializeAsync()
    {
        await Task.WhenAll(Postgres.InitializeAsync(), RabbitMq.InitializeAsync(), S3.InitializeAsync());
    }

    public async Task DisposeAsync()
    {
        await Postgres.DisposeAsync();
        await RabbitMq.DisposeAsync();
        RabbitMq.Dispose();
        await S3.DisposeAsync();
    }
}

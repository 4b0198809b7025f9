using PaliGemma.Pipeline.TestSupport;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PaliGemma.Pipeline.Faults.Tests;

/// <summary>
/// The suite's own services (<see cref="PrivateServices"/>) behind the end-to-end harness: the PGPIPE_TEST_* variables
/// of this test process are pointed at them before the harness's fixtures read them, so every <see cref="PipelineRun"/>
/// here (its database, virtual host, bucket and pgpipe processes) lives on services a test may stop. A start-up
/// failure is kept and re-thrown with the service logs at first use; a missing program skips outside CI and fails in it.
/// </summary>
public sealed class FaultServices(IMessageSink diagnostics) : IAsyncLifetime
{
    private Exception? _startFailure;
    private E2EServices? _services;

    /// <summary>The private services; null until started.</summary>
    public PrivateServices? Private { get; private set; }

    /// <summary>Why the suite skips (a program missing, not under CI), or null.</summary>
    public string? SkipReason { get; private set; }

    /// <summary>The harness's services, after the skip and start-up checks.</summary>
    public E2EServices Services
    {
        get
        {
            Skip.If(SkipReason is not null, SkipReason);
            if (_startFailure is not null)
            {
                throw new InvalidOperationException(
                    $"The fault suite's private services did not start: {_startFailure.Message}\n{Private?.LogTails()}", _startFailure);
            }

            return _services!;
        }
    }

    /// <summary>Private services, checked like <see cref="Services"/>.</summary>
    public PrivateServices Control => Services is not null && Private is not null ? Private : throw new InvalidOperationException("FaultServices was used before xunit initialised it.");

    public async Task InitializeAsync()
    {
        var missing = OperatingSystem.IsWindows() ? "the private services are started with Linux programs (initdb, rabbitmq-server, s3rver)." : PrivateServices.MissingPrerequisite();
        if (missing is not null || OperatingSystem.IsWindows())
        {
            if (ServiceRequirement.IsCi)
            {
                _startFailure = new InvalidOperationException($"CI=true but the fault suite cannot start its own services: {missing}");
            }
            else
            {
                SkipReason = "Fault suite skipped: " + missing;
            }

            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            Private = await PrivateServices.StartAsync(timeout.Token);
            Environment.SetEnvironmentVariable(ServiceRequirement.PostgresVariable, Private.Postgres.AdminConnectionString);
            Environment.SetEnvironmentVariable(ServiceRequirement.RabbitMqVariable, Private.RabbitMq.AmqpUri.ToString());
            Environment.SetEnvironmentVariable(ServiceRequirement.RabbitMqManagementVariable, Private.RabbitMq.ManagementUri.ToString());
            Environment.SetEnvironmentVariable(ServiceRequirement.S3Variable, Private.S3.ServiceUrl);
            _services = new E2EServices(diagnostics);
            await _services.InitializeAsync();
            diagnostics.OnMessage(new DiagnosticMessage(
                $"FaultServices: private PostgreSQL :{Private.Postgres.Port}, RabbitMQ :{Private.RabbitMq.AmqpPort} (management :{Private.RabbitMq.ManagementPort}), s3rver :{Private.S3.Port} in {Private.Root}"));
        }
        catch (Exception e)
        {
            _startFailure = e;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_services is not null)
            {
                await _services.DisposeAsync();
            }
        }
        finally
        {
            if (Private is not null)
            {
                await Private.DisposeAsync();
            }

            FaultFigures.Flush(diagnostics);
        }
    }
}

using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Worker;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>The retry policies the fault suite relies on: their schedules, binding, validation and what counts as transient.</summary>
public sealed class RetryPolicyTests
{
    [Fact]
    public void The_worker_batch_default_doubles_from_1_s_to_15_s_and_covers_105_s()
    {
        // Hand-worked: 1 + 2 + 4 + 8 + 15 x 6 = 105.
        var policy = Bind([]).Get(RetryPolicyOptions.WorkerBatch);
        Assert.Equal([1, 2, 4, 8, 15, 15, 15, 15, 15, 15], policy.Delays().Select(d => d.TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(105), policy.Coverage);
        Assert.True(policy.Coverage >= TimeSpan.FromSeconds(60), "the batch policy must ride out a 60 s outage");
    }

    [Fact]
    public void The_fetch_default_covers_11_75_s()
    {
        // 0.25 + 0.5 + 1 + 2 + 4 + 4 = 11.75.
        Assert.Equal(TimeSpan.FromSeconds(11.75), Bind([]).Get(RetryPolicyOptions.WorkerFetch).Coverage);
    }

    [Fact]
    public void Configuration_overrides_one_policy_and_leaves_the_others_at_their_defaults()
    {
        var policies = Bind(new() { ["Worker:Retry:RetryLimit"] = "3", ["Worker:Retry:InitialDelayMs"] = "500" });
        Assert.Equal([0.5, 1, 2], policies.Get(RetryPolicyOptions.WorkerBatch).Delays().Select(d => d.TotalSeconds));
        Assert.Equal(6, policies.Get(RetryPolicyOptions.WorkerFetch).RetryLimit);
    }

    [Fact]
    public void A_max_delay_below_the_initial_delay_is_refused_naming_the_setting()
    {
        var policies = Bind(new() { ["Worker:FetchRetry:InitialDelayMs"] = "5000", ["Worker:FetchRetry:MaxDelayMs"] = "100" });
        var error = Assert.Throws<OptionsValidationException>(() => policies.Get(RetryPolicyOptions.WorkerFetch));
        Assert.Contains("Worker:FetchRetry:MaxDelayMs", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_batch_policy_that_outlasts_the_consumer_timeout_stops_the_worker_from_starting()
    {
        var policies = Bind(new() { ["Worker:Retry:RetryLimit"] = "40", ["Worker:Retry:MaxDelayMs"] = "60000" });
        var model = ModelReference.Resolve(Fixtures.TinyModel, "fp32", null);
        var error = Assert.Throws<OptionsValidationException>(() => new ImageJobBatchConsumerDefinition(model, Options.Create(new WorkerOptions { MaxBatchDurationMs = 60_000 }),
            Options.Create(new MessagingOptions { ConsumerTimeoutMs = 1_800_000 }), policies, NullLogger<ImageJobBatchConsumerDefinition>.Instance));
        Assert.Contains("Messaging:ConsumerTimeoutMs", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<Exception, bool> Errors => new()
    {
        { new HttpRequestException("Connection refused", new SocketException((int)SocketError.ConnectionRefused)), true },
        { new AmazonS3Exception("Service Unavailable") { StatusCode = HttpStatusCode.ServiceUnavailable }, true },
        { new AmazonS3Exception("Slow Down") { StatusCode = HttpStatusCode.TooManyRequests }, true },
        { new IOException("The response ended prematurely."), true },
        { new AmazonS3Exception("Not Found") { StatusCode = HttpStatusCode.NotFound }, false },
        { new AmazonS3Exception("Access Denied") { StatusCode = HttpStatusCode.Forbidden }, false },
        { new CatalogObjectMissingException("s3://b/k"), false },
        { new ArgumentException("'x' is not inside this catalog"), false },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Only_storage_errors_a_later_attempt_can_get_past_are_retried(Exception error, bool transient)
    {
        Assert.Equal(transient, CatalogReader.IsTransient(error, CancellationToken.None));
    }

    [Fact]
    public void A_cancelled_fetch_is_not_retried()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.False(CatalogReader.IsTransient(new OperationCanceledException(cts.Token), cts.Token));
        Assert.True(CatalogReader.IsTransient(new TaskCanceledException("HttpClient timeout"), CancellationToken.None));
    }

    private static IOptionsMonitor<RetryPolicyOptions> Bind(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        // The worker's registration, so these are the defaults a deployed worker runs with.
        services.AddWorkerRetryPolicies();
        return services.BuildServiceProvider().GetRequiredService<IOptionsMonitor<RetryPolicyOptions>>();
    }
}

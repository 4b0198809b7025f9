using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// An S3-compatible server for tests: the endpoint in PGPIPE_TEST_S3 (s3rver under .ci/services.sh), else a MinIO
/// container when Docker is present. Use with <c>IClassFixture&lt;S3ServerFixture&gt;</c> and <see cref="S3FactAttribute"/>.
/// </summary>
public sealed class S3ServerFixture : IAsyncLifetime
{
    /// <summary>The MinIO image started when no endpoint is configured (Testcontainers.Minio is not served here).</summary>
    public const string MinioImage = "minio/minio:RELEASE.2024-12-18T13-15-44Z";

    private const int MinioPort = 9000;

    private readonly IMessageSink _diagnostics;
    private readonly ConcurrentBag<string> _buckets = [];
    private IContainer? _container;
    private AmazonS3Client? _client;
    private Exception? _startFailure;
    private string _origin = "not configured";

    /// <summary>Created by xunit, which passes its diagnostic sink.</summary>
    public S3ServerFixture(IMessageSink diagnosticSink)
    {
        _diagnostics = diagnosticSink;
        SkipReason = UnavailableReason;
    }

    /// <summary>Why S3 tests must be skipped on this machine, or null when they can run (always null in CI).</summary>
    public static string? UnavailableReason => ServiceAvailability.SkipReason(ServiceRequirement.S3Variable, "An S3-compatible server is");

    /// <summary>Why this fixture's tests are skipped, or null when the server is (or should be) available.</summary>
    public string? SkipReason { get; }

    /// <summary>The endpoint, e.g. http://127.0.0.1:4569.</summary>
    public string ServiceUrl { get; private set; } = string.Empty;

    /// <summary>Access key accepted by the server (s3rver accepts any; MinIO its root user).</summary>
    public string AccessKey { get; private set; } = "S3RVER";

    /// <summary>Secret key matching <see cref="AccessKey"/>.</summary>
    public string SecretKey { get; private set; } = "S3RVER";

    /// <summary>
    /// A client configured for S3-compatible servers (path-style, checksums only when required). Throws
    /// <see cref="ServiceUnavailableException"/> with the start-up failure when the server is missing.
    /// </summary>
    public IAmazonS3 Client => EnsureAvailable();

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        if (SkipReason is not null)
        {
            return;
        }

        try
        {
            var configured = Environment.GetEnvironmentVariable(ServiceRequirement.S3Variable);
            if (!string.IsNullOrWhiteSpace(configured))
            {
                _origin = $"{ServiceRequirement.S3Variable}={configured}";
                ServiceUrl = configured.TrimEnd('/');
            }
            else if (ServiceRequirement.DockerAvailable)
            {
                _origin = $"Testcontainers {MinioImage}";
                AccessKey = "pgpipe-test";
                SecretKey = "pgpipe-test-secret";
                _container = new ContainerBuilder(MinioImage)
                    .WithCommand("server", "/data")
                    .WithEnvironment("MINIO_ROOT_USER", AccessKey)
                    .WithEnvironment("MINIO_ROOT_PASSWORD", SecretKey)
                    .WithPortBinding(MinioPort, assignRandomHostPort: true)
                    .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPath("/minio/health/live").ForPort(MinioPort)))
                    .Build();
                using var startTimeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
                await _container.StartAsync(startTimeout.Token);
                ServiceUrl = $"http://{_container.Hostname}:{_container.GetMappedPublicPort(MinioPort)}";
            }
            else
            {
                throw new ServiceUnavailableException(ServiceAvailability.MissingInCi(ServiceRequirement.S3Variable, "S3-compatible server"));
            }

            _client = CreateClient(ServiceUrl, AccessKey, SecretKey);
            // Probe now so a wrong URL or a dead server is reported with its origin, not as a test's timeout.
            using var probeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await _client.ListBucketsAsync(new ListBucketsRequest(), probeTimeout.Token);
            _diagnostics.OnMessage(new DiagnosticMessage($"S3ServerFixture: using {_origin} at {ServiceUrl}"));
        }
        catch (Exception e)
        {
            _startFailure = e;
            _diagnostics.OnMessage(new DiagnosticMessage($"S3ServerFixture: start-up failed ({_origin}): {e.Message}"));
        }
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_client is not null && _startFailure is null)
        {
            // Buckets are unique per fixture; removing them keeps a long-lived s3rver's data folder small.
            foreach (var bucket in _buckets)
            {
                try
                {
                    await DeleteBucketAsync(bucket, CancellationToken.None);
                }
                catch (Exception e)
                {
                    _diagnostics.OnMessage(new DiagnosticMessage($"S3ServerFixture: could not delete bucket {bucket}: {e.Message}"));
                }
            }
        }

        _client?.Dispose();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }

    /// <summary>Creates a client for an S3-compatible server with the settings S3-compatible servers need (path style, checksums only when required).</summary>
    public static AmazonS3Client CreateClient(string serviceUrl, string accessKey, string secretKey) =>
        new(new BasicAWSCredentials(accessKey, secretKey), new AmazonS3Config
        {
            ServiceURL = serviceUrl,
            AuthenticationRegion = "us-east-1",
            ForcePathStyle = true,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    /// <summary>
    /// Creates an empty bucket with a unique name derived from <paramref name="nameHint"/> (e.g. the test class), deleted
    /// with its objects when the fixture is disposed.
    /// </summary>
    public async Task<string> CreateBucketAsync(string nameHint, CancellationToken ct)
    {
        var client = EnsureAvailable();
        var name = UniqueBucketName(nameHint);
        await client.PutBucketAsync(new PutBucketRequest { BucketName = name }, ct);
        _buckets.Add(name);
        return name;
    }

    /// <summary>Uploads <paramref name="content"/> to <paramref name="key"/> and returns the ETag without quotes.</summary>
    public async Task<string> PutObjectAsync(string bucket, string key, byte[] content, CancellationToken ct)
    {
        var client = EnsureAvailable();
        using var stream = new MemoryStream(content, writable: false);
        var response = await client.PutObjectAsync(new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            InputStream = stream,
            // s3rver would store the aws-chunked framing inside the object.
            UseChunkEncoding = false,
        }, ct);
        return response.ETag.Trim('"');
    }

    /// <summary>Uploads many objects with bounded parallelism.</summary>
    public Task PutObjectsAsync(string bucket, IEnumerable<(string Key, byte[] Content)> objects, int parallelism, CancellationToken ct) =>
        Parallel.ForEachAsync(objects, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct },
            async (item, token) => await PutObjectAsync(bucket, item.Key, item.Content, token));

    private async Task DeleteBucketAsync(string bucket, CancellationToken ct)
    {
        var client = EnsureAvailable();
        var request = new ListObjectsV2Request { BucketName = bucket };
        while (true)
        {
            var page = await client.ListObjectsV2Async(request, ct);
            await Parallel.ForEachAsync(page.S3Objects ?? [], new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct },
                async (o, token) => await client.DeleteObjectAsync(bucket, o.Key, token));
            if (page.IsTruncated != true)
            {
                break;
            }

            request.ContinuationToken = page.NextContinuationToken;
        }

        await client.DeleteBucketAsync(bucket, ct);
    }

    private AmazonS3Client EnsureAvailable()
    {
        if (SkipReason is not null)
        {
            throw new ServiceUnavailableException(SkipReason + " Mark the test [S3Fact] so it is skipped instead of failing.");
        }

        if (_startFailure is not null)
        {
            throw new ServiceUnavailableException($"The S3 test server ({_origin}) was not usable: {_startFailure.Message}", _startFailure);
        }

        return _client ?? throw new InvalidOperationException("S3ServerFixture was used before xunit initialised it.");
    }

    private static string UniqueBucketName(string hint)
    {
        var cleaned = new StringBuilder();
        foreach (var c in hint.ToLowerInvariant())
        {
            if (cleaned.Length >= 40)
            {
                break;
            }

            cleaned.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        }

        var stem = cleaned.ToString().Trim('-');
        // At most 2 + 40 + 1 + 16 = 59 characters: inside S3's 63, and unique per call.
        return string.Create(CultureInfo.InvariantCulture, $"t-{(stem.Length == 0 ? "bucket" : stem)}-{Guid.NewGuid():N}")[..^16];
    }
}

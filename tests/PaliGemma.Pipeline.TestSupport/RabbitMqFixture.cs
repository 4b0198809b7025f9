using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Testcontainers.RabbitMq;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// RabbitMQ with the management API for tests: PGPIPE_TEST_RABBITMQ (+ PGPIPE_TEST_RABBITMQ_MGMT) from
/// .ci/services.sh, else a Testcontainers RabbitMQ management container when Docker is present. Use with
/// <c>IClassFixture&lt;RabbitMqFixture&gt;</c> and <see cref="RabbitMqFactAttribute"/>; isolate test classes with
/// <see cref="CreateVirtualHostAsync"/>.
/// </summary>
public sealed class RabbitMqFixture : IAsyncLifetime, IDisposable
{
    /// <summary>Pinned image (tag and digest) started when no broker is configured.</summary>
    public const string Image = "rabbitmq:3.13-management@sha256:e582c0bc7766f3342496d8485efb5a1df782b5ce3886ad017e2eaae442311f69";

    private const int ManagementPort = 15672;

    private readonly IMessageSink _diagnostics;
    private readonly ConcurrentBag<string> _virtualHosts = [];
    private RabbitMqContainer? _container;
    private HttpClient? _management;
    private Exception? _startFailure;
    private string _origin = "not configured";
    private Uri _amqpUri = new("amqp://localhost/");
    private Uri _managementUri = new("http://localhost/");

    /// <summary>Created by xunit, which passes its diagnostic sink.</summary>
    public RabbitMqFixture(IMessageSink diagnosticSink)
    {
        _diagnostics = diagnosticSink;
        SkipReason = UnavailableReason;
    }

    /// <summary>Why RabbitMQ tests must be skipped on this machine, or null when they can run (always null in CI).</summary>
    public static string? UnavailableReason => ServiceAvailability.SkipReason(ServiceRequirement.RabbitMqVariable, "RabbitMQ is");

    /// <summary>Why this fixture's tests are skipped, or null when the broker is (or should be) available.</summary>
    public string? SkipReason { get; }

    /// <summary>AMQP URI of the default virtual host, with credentials, e.g. amqp://guest:guest@127.0.0.1:5672/.</summary>
    public Uri AmqpUri => EnsureAvailable()._amqpUri;

    /// <summary>Base URI of the management HTTP API, e.g. http://127.0.0.1:15672.</summary>
    public Uri ManagementUri => EnsureAvailable()._managementUri;

    /// <summary>User name taken from the AMQP URI.</summary>
    public string Username { get; private set; } = "guest";

    /// <summary>Password taken from the AMQP URI.</summary>
    public string Password { get; private set; } = "guest";

    /// <summary>An HTTP client for the management API (base address and basic auth set); owned by the fixture.</summary>
    public HttpClient Management => EnsureAvailable()._management!;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        if (SkipReason is not null)
        {
            return;
        }

        try
        {
            var configured = Environment.GetEnvironmentVariable(ServiceRequirement.RabbitMqVariable);
            if (!string.IsNullOrWhiteSpace(configured))
            {
                _origin = $"{ServiceRequirement.RabbitMqVariable}={Redact(configured)}";
                _amqpUri = ParseUri(configured, ServiceRequirement.RabbitMqVariable, "amqp://guest:guest@127.0.0.1:5672/");
                var management = Environment.GetEnvironmentVariable(ServiceRequirement.RabbitMqManagementVariable);
                _managementUri = string.IsNullOrWhiteSpace(management)
                    ? new Uri($"http://{_amqpUri.Host}:{ManagementPort}/")
                    : ParseUri(management, ServiceRequirement.RabbitMqManagementVariable, "http://127.0.0.1:15672");
            }
            else if (ServiceRequirement.DockerAvailable)
            {
                _origin = $"Testcontainers {Image}";
                _container = new RabbitMqBuilder(Image).WithPortBinding(ManagementPort, assignRandomHostPort: true).Build();
                using var startTimeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
                await _container.StartAsync(startTimeout.Token);
                _amqpUri = new Uri(_container.GetConnectionString());
                _managementUri = new Uri($"http://{_container.Hostname}:{_container.GetMappedPublicPort(ManagementPort)}/");
            }
            else
            {
                throw new ServiceUnavailableException(ServiceAvailability.MissingInCi(ServiceRequirement.RabbitMqVariable, "RabbitMQ"));
            }

            var userInfo = _amqpUri.UserInfo.Split(':', 2);
            if (userInfo[0].Length > 0)
            {
                Username = Uri.UnescapeDataString(userInfo[0]);
                Password = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : string.Empty;
            }

            _management = new HttpClient { BaseAddress = _managementUri, Timeout = TimeSpan.FromSeconds(30) };
            _management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
                "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}")));

            await ProbeAsync();
            _diagnostics.OnMessage(new DiagnosticMessage($"RabbitMqFixture: using {_origin}, management at {_managementUri}"));
        }
        catch (Exception e)
        {
            _startFailure = e;
            _diagnostics.OnMessage(new DiagnosticMessage($"RabbitMqFixture: start-up failed ({_origin}): {e.Message}"));
        }
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_management is not null && _startFailure is null)
        {
            foreach (var vhost in _virtualHosts)
            {
                try
                {
                    using var response = await _management.DeleteAsync(VhostPath(vhost));
                }
                catch (Exception e)
                {
                    _diagnostics.OnMessage(new DiagnosticMessage($"RabbitMqFixture: could not delete virtual host {vhost}: {e.Message}"));
                }
            }
        }

        _management?.Dispose();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }

    /// <summary>Releases the management client; xunit calls this after <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => _management?.Dispose();

    /// <summary>
    /// Creates a virtual host with a unique name derived from <paramref name="nameHint"/>, grants the fixture's user
    /// full rights on it, and returns its AMQP URI. Queues and exchanges of one test class cannot collide with
    /// another's; the virtual host is deleted when the fixture is disposed.
    /// </summary>
    public async Task<Uri> CreateVirtualHostAsync(string nameHint, CancellationToken ct)
    {
        var management = EnsureAvailable()._management!;
        var stem = new string(nameHint.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').Take(40).ToArray()).Trim('-');
        var name = $"t-{(stem.Length == 0 ? "vhost" : stem)}-{Guid.NewGuid():N}"[..^16];

        using (var created = await management.PutAsync(VhostPath(name), JsonContent.Create(new { }), ct))
        {
            await EnsureSuccessAsync(created, $"create virtual host {name}", ct);
        }

        _virtualHosts.Add(name);
        var permissions = new { configure = ".*", write = ".*", read = ".*" };
        using (var granted = await management.PutAsJsonAsync($"api/permissions/{Uri.EscapeDataString(name)}/{Uri.EscapeDataString(Username)}", permissions, ct))
        {
            await EnsureSuccessAsync(granted, $"grant {Username} rights on virtual host {name}", ct);
        }

        return new UriBuilder(_amqpUri) { Path = "/" + Uri.EscapeDataString(name) }.Uri;
    }

    private async Task ProbeAsync()
    {
        // The AMQP port answers before the management plugin has finished starting; poll both for a while.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var tcp = new TcpClient();
                using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await tcp.ConnectAsync(_amqpUri.Host, _amqpUri.IsDefaultPort || _amqpUri.Port < 0 ? 5672 : _amqpUri.Port, connectTimeout.Token);
                using var response = await _management!.GetAsync("api/overview");
                await EnsureSuccessAsync(response, "query the management API (api/overview)", CancellationToken.None);
                return;
            }
            catch (Exception) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        }
    }

    private RabbitMqFixture EnsureAvailable()
    {
        if (SkipReason is not null)
        {
            throw new ServiceUnavailableException(SkipReason + " Mark the test [RabbitMqFact] so it is skipped instead of failing.");
        }

        if (_startFailure is not null)
        {
            throw new ServiceUnavailableException($"The RabbitMQ test broker ({_origin}) was not usable: {_startFailure.Message}", _startFailure);
        }

        return _management is null ? throw new InvalidOperationException("RabbitMqFixture was used before xunit initialised it.") : this;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            throw new HttpRequestException($"RabbitMQ management API could not {what}: {(int)response.StatusCode} {response.ReasonPhrase} {body}");
        }
    }

    private static string VhostPath(string name) => $"api/vhosts/{Uri.EscapeDataString(name)}";

    private static Uri ParseUri(string value, string variable, string example) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
            ? uri
            : throw new ServiceUnavailableException($"{variable} must be an absolute URI such as {example}; got '{Redact(value)}'.");

    private static string Redact(string uri) =>
        Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.UserInfo.Length > 0
            ? uri.Replace(parsed.UserInfo, parsed.UserInfo.Split(':')[0] + ":***", StringComparison.Ordinal)
            : uri;
}

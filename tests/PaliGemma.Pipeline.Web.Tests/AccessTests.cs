using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>Who may read: loopback freely; anyone else only with the configured key or basic auth; binding wide needs them.</summary>
public sealed class AccessTests(SqliteSeededStore seeded) : IClassFixture<SqliteSeededStore>
{
    private const string Key = "0123456789abcdef-test-key";
    private const string User = "viewer";
    private const string Password = "a-long-enough-password";

    private static readonly IPAddress Outsider = IPAddress.Parse("192.0.2.10");

    private static readonly Dictionary<string, string?> Credentials = new()
    {
        ["Serve:ApiKey"] = Key,
        ["Serve:BasicAuthUser"] = User,
        ["Serve:BasicAuthPassword"] = Password,
    };

    private async Task<HttpStatusCode> GetAsync(IPAddress remote, IDictionary<string, string?> settings, Action<HttpRequestMessage>? decorate = null, string path = "/api/runs")
    {
        await using var factory = seeded.CreateFactory(remote, settings);
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        decorate?.Invoke(request);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    [Theory]
    [InlineData("/api/runs")]
    [InlineData("/")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/api/results/1/image")]
    [InlineData("/api/changes")]
    public async Task Outside_loopback_nothing_is_served_without_the_key(string path)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(Outsider, Credentials, path: path));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(Outsider, Credentials, r => r.Headers.Add("X-Api-Key", Key + "x"), path));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(Outsider, Credentials, r => r.Headers.Add("X-Api-Key", Key[..^1]), path));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(Outsider, Credentials, r => r.Headers.Authorization = Basic(User, Password + "x"), path));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(Outsider, Credentials, r => r.Headers.Authorization = new AuthenticationHeaderValue("Basic", "not base64!"), path));
    }

    [Fact]
    public async Task Outside_loopback_the_key_or_basic_auth_is_accepted()
    {
        Assert.Equal(HttpStatusCode.OK, await GetAsync(Outsider, Credentials, r => r.Headers.Add("X-Api-Key", Key)));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(Outsider, Credentials, r => r.Headers.Authorization = Basic(User, Password)));
        // An IPv4 outsider seen through a dual-stack socket is still an outsider.
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(Outsider.MapToIPv6(), Credentials));
    }

    [Fact]
    public async Task Without_configured_credentials_only_loopback_is_served()
    {
        var none = new Dictionary<string, string?>();
        Assert.Equal(HttpStatusCode.Forbidden, await GetAsync(Outsider, none));
        Assert.Equal(HttpStatusCode.Forbidden, await GetAsync(Outsider, none, r => r.Headers.Add("X-Api-Key", Key)));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(IPAddress.Loopback, none));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(IPAddress.IPv6Loopback, none));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(IPAddress.Parse("127.0.0.1").MapToIPv6(), none));
    }

    [Fact]
    public async Task Loopback_requests_naming_a_foreign_host_are_refused()
    {
        // DNS rebinding: evil.example resolves to 127.0.0.1 and its page reads the API through the user's browser.
        Assert.Equal(HttpStatusCode.Forbidden, await GetAsync(IPAddress.Loopback, new Dictionary<string, string?>(), r => r.Headers.Host = "evil.example:8080"));
        Assert.Equal(HttpStatusCode.OK, await GetAsync(IPAddress.Loopback, new Dictionary<string, string?>(), r => r.Headers.Host = "127.0.0.1:8080"));
    }

    [Theory]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://*:8080")]
    [InlineData("http://+:8080")]
    [InlineData("http://[::]:8080")]
    [InlineData("http://192.0.2.10:8080")]
    [InlineData("http://example.org:8080")]
    public void Binding_beyond_loopback_without_credentials_refuses_to_start(string url)
    {
        var ex = Assert.Throws<ResultsBrowserConfigurationException>(() => ResultsBrowserApp.CheckBinding([ResultsBrowserApp.DefaultUrl, url], new ResultsBrowserOptions()));
        Assert.Contains(url, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Serve:ApiKey", ex.Message, StringComparison.Ordinal);

        ResultsBrowserApp.CheckBinding([url], new ResultsBrowserOptions { ApiKey = Key });
        ResultsBrowserApp.CheckBinding([url], new ResultsBrowserOptions { BasicAuthUser = User, BasicAuthPassword = Password });
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("http://127.1.2.3:0")]
    [InlineData("http://localhost:8080")]
    [InlineData("http://[::1]:8080")]
    public void Binding_loopback_needs_no_credentials(string url) =>
        ResultsBrowserApp.CheckBinding([url], new ResultsBrowserOptions());

    [Fact]
    public void Weak_or_half_configured_credentials_are_rejected_by_name()
    {
        var validator = new ResultsBrowserOptionsValidator();
        Assert.Contains("Serve:ApiKey", validator.Validate(null, new ResultsBrowserOptions { ApiKey = "short" }).FailureMessage, StringComparison.Ordinal);
        Assert.Contains("must be set together", validator.Validate(null, new ResultsBrowserOptions { BasicAuthUser = User }).FailureMessage, StringComparison.Ordinal);
        Assert.True(validator.Validate(null, new ResultsBrowserOptions { ApiKey = Key }).Succeeded);
    }

    /// <summary>
    /// A real Kestrel socket on a non-loopback address of this machine (when it has one): a request arriving there
    /// carries a real non-loopback peer address, and is refused without the key.
    /// </summary>
    [SkippableFact]
    public async Task A_real_socket_on_a_non_loopback_address_refuses_requests_without_the_key()
    {
        var address = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        Skip.If(address is null, "This machine has no non-loopback IPv4 address to bind.");
        seeded.SkipOrThrowIfUnavailable();

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Serve:ApiKey"] = Key }).Build();
        await using var app = ResultsBrowserApp.CreateServer(configuration, new BrowserStore(seeded.Store, seeded.SqliteFile), [$"http://{address}:0"]);
        await app.StartAsync();
        var url = Assert.Single(app.Urls);
        using var client = new HttpClient { BaseAddress = new Uri(url) };
        using (var refused = await client.GetAsync("/api/runs"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        request.Headers.Add("X-Api-Key", Key);
        using var accepted = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        await app.StopAsync();
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password)));
}

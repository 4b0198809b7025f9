using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Web;

/// <summary>
/// Who may read: requests from loopback, and requests from elsewhere only with the configured API key
/// (<c>X-Api-Key</c>) or basic-auth credentials. Without configured credentials every non-loopback request is refused,
/// so a server bound wider by mistake (or reached through a forwarder) still serves nobody else.
/// Loopback requests must also name a loopback host, so a web page whose DNS name re-binds to 127.0.0.1 cannot read
/// the store through the user's browser.
/// </summary>
internal sealed partial class AccessGuard
{
    private readonly RequestDelegate _next;
    private readonly ResultsBrowserOptions _options;
    private readonly ILogger<AccessGuard> _logger;
    private readonly byte[]? _keyHash;
    private readonly byte[]? _basicHash;

    public AccessGuard(RequestDelegate next, IOptions<ResultsBrowserOptions> options, ILogger<AccessGuard> logger)
    {
        _next = next;
        _options = options.Value;
        _logger = logger;
        // Compare hashes, fixed-time: equal lengths whatever the caller sends, and no early exit on the first difference.
        _keyHash = string.IsNullOrEmpty(_options.ApiKey) ? null : Hash(_options.ApiKey);
        _basicHash = string.IsNullOrEmpty(_options.BasicAuthUser) || string.IsNullOrEmpty(_options.BasicAuthPassword)
            ? null
            : Hash(_options.BasicAuthUser + ":" + _options.BasicAuthPassword);
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (HasValidCredentials(context.Request))
        {
            return _next(context);
        }

        var remote = context.Connection.RemoteIpAddress;
        if (IsLoopback(remote))
        {
            if (IsLoopbackHost(context.Request.Host.Host))
            {
                return _next(context);
            }

            Refused(_logger, remote?.ToString() ?? "(none)", "host " + context.Request.Host.Value);
            return WriteAsync(context, StatusCodes.Status403Forbidden,
                $"Host '{context.Request.Host.Value}' is not a loopback name; open the browser at http://127.0.0.1 or http://localhost.");
        }

        Refused(_logger, remote?.ToString() ?? "(none)", "no valid credentials");
        if (!_options.HasCredentials)
        {
            return WriteAsync(context, StatusCodes.Status403Forbidden,
                $"pgpipe serve answers loopback only; configure {ResultsBrowserOptions.SectionName}:ApiKey or {ResultsBrowserOptions.SectionName}:BasicAuthUser/BasicAuthPassword to serve other hosts.");
        }

        if (_basicHash is not null)
        {
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"pgpipe\", charset=\"UTF-8\"";
        }

        return WriteAsync(context, StatusCodes.Status401Unauthorized,
            $"Requests from outside loopback need the {ResultsBrowserOptions.ApiKeyHeader} header or basic auth.");
    }

    internal static bool IsLoopback(IPAddress? address)
    {
        if (address is null)
        {
            // No peer address (e.g. a Unix socket or a host without connection info): not provably local.
            return false;
        }

        return IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
    }

    internal static bool IsLoopbackHost(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    private bool HasValidCredentials(HttpRequest request)
    {
        if (_keyHash is not null && request.Headers.TryGetValue(ResultsBrowserOptions.ApiKeyHeader, out var key) && key.Count == 1
            && CryptographicOperations.FixedTimeEquals(Hash(key[0] ?? string.Empty), _keyHash))
        {
            return true;
        }

        if (_basicHash is not null && request.Headers.Authorization.ToString() is { } header
            && header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                return CryptographicOperations.FixedTimeEquals(Hash(decoded), _basicHash);
            }
            catch (FormatException)
            {
                return false;
            }
        }

        return false;
    }

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));

    private static Task WriteAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message, context.RequestAborted);
    }

    [LoggerMessage(EventId = 8001, EventName = "RequestRefused", Level = LogLevel.Warning, Message = "Refused a request from {Remote}: {Why}")]
    private static partial void Refused(ILogger logger, string remote, string why);
}

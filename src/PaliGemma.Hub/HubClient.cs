using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PaliGemma.Hub;

/// <summary>What a HEAD on <c>/{repo}/resolve/{revision}/{path}</c> says about a file.</summary>
/// <param name="Commit">X-Repo-Commit: the commit the revision resolved to.</param>
/// <param name="Etag">X-Linked-Etag (LFS: the sha256) or ETag (regular files: the git blob sha1), unquoted; the blob's name.</param>
/// <param name="Size">X-Linked-Size or Content-Length.</param>
/// <param name="Location">Where to GET the bytes: the absolute redirect target (a signed CDN URL) or the resolve URL itself.</param>
public sealed record HubFileMetadata(string Commit, string Etag, long Size, Uri Location);

/// <summary>One entry of the tree API.</summary>
/// <param name="Path">Repo-relative path with '/'.</param>
/// <param name="Size">File size in bytes (for LFS files the real size, not the pointer's).</param>
/// <param name="Oid">Git blob id.</param>
/// <param name="LfsSha256">For LFS files the sha256 of the contents; null for regular files.</param>
public sealed record HubTreeFile(string Path, long Size, string Oid, string? LfsSha256);

/// <summary>
/// The HTTP side of the Hub, speaking the protocol huggingface_hub speaks: HEAD on resolve URLs without following
/// absolute redirects (relative ones are followed: that is how renamed repos answer), GET on the redirect target
/// with the Authorization header dropped when the host changes, the tree API with Link-header pagination, and
/// retries with backoff for 429 and 5xx that honour Retry-After and RateLimit. Redirects are handled here, never by
/// the handler, so the rule on Authorization is ours and explicit.
/// </summary>
public sealed class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly ILogger _logger;

    /// <summary>Creates a client.</summary>
    /// <param name="settings">Endpoint and token.</param>
    /// <param name="options">Retry and timeout policy; defaults when null.</param>
    /// <param name="handler">Transport for tests; must not follow redirects. A SocketsHttpHandler is created when null.</param>
    /// <param name="logger">Retry and redirect logging.</param>
    public HubClient(HubSettings settings, HubClientOptions? options = null, HttpMessageHandler? handler = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        Options = options ?? new HubClientOptions();
        _endpoint = new Uri(settings.Endpoint.TrimEnd('/') + "/");
        _logger = logger ?? NullLogger.Instance;
        handler ??= new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = Options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("pgpipe", typeof(HubClient).Assembly.GetName().Version?.ToString() ?? "0"));
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("(huggingface_hub-compatible)"));
    }

    /// <summary>Endpoint, token and offline flag in use.</summary>
    public HubSettings Settings { get; }

    /// <summary>Retry and timeout policy in use.</summary>
    public HubClientOptions Options { get; }

    /// <summary><c>{endpoint}/{repo}/resolve/{revision}/{path}</c>, with the revision escaped whole (refs/pr/1 becomes refs%2Fpr%2F1).</summary>
    public Uri ResolveUrl(string repo, string revision, string path) =>
        new(_endpoint, $"{repo}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>HEADs a file and returns its commit, etag, size and download location.</summary>
    public async Task<HubFileMetadata> GetFileMetadataAsync(string repo, string revision, string path, CancellationToken cancellationToken)
    {
        var url = ResolveUrl(repo, revision, path);
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            using var response = await SendAsync(HttpMethod.Head, url, null, $"HEAD {path}", cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && HubResponses.RawHeader(response, "Location") is { } location)
            {
                if (HubResponses.IsRelative(location))
                {
                    // A renamed repo answers with a relative redirect to its new name; same host, so the token stays.
                    url = new Uri(url, location);
                    HubLog.RelativeRedirect(_logger, repo, url.AbsolutePath);
                    continue;
                }

                // An absolute redirect is the signed CDN URL: stop here, its headers describe the file.
                return ReadMetadata(response, new Uri(location), repo, path);
            }

            if (response.IsSuccessStatusCode)
            {
                return ReadMetadata(response, url, repo, path);
            }

            throw HubErrorMapping.FromResponse(response, Settings, repo, revision, path);
        }

        throw new HubException($"HEAD {ResolveUrl(repo, revision, path)}: more than {MaxRedirects} redirects.");
    }

    /// <summary>Lists every file of a revision through <c>/api/models/{repo}/tree/{revision}?recursive=true</c>, page by page.</summary>
    public async Task<IReadOnlyList<HubTreeFile>> ListFilesAsync(string repo, string revision, CancellationToken cancellationToken)
    {
        var files = new List<HubTreeFile>();
        Uri? url = new(_endpoint, $"api/models/{repo}/tree/{Uri.EscapeDataString(revision)}?recursive=true");
        var pages = 0;
        while (url is not null)
        {
            if (++pages > 10_000)
            {
                throw new HubException($"Tree listing of '{repo}' at '{revision}' did not end after 10000 pages.");
            }

            using var response = await GetFollowingAsync(url, null, $"tree of {repo}", cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw HubErrorMapping.FromResponse(response, Settings, repo, revision, null);
            }

            var pageUrl = response.RequestMessage?.RequestUri ?? url;
            await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
            {
                using var doc = await JsonDocument.ParseAsync(body, default, cancellationToken).ConfigureAwait(false);
                if (doc.RootElement.ValueKind != JsonValueKind.Array)
                {
                    throw new HubException($"Tree listing {pageUrl} did not return a JSON array.");
                }

                foreach (var entry in doc.RootElement.EnumerateArray())
                {
                    if (entry.TryGetProperty("type", out var type) && type.GetString() == "file")
                    {
                        string? lfs = null;
                        var size = entry.GetProperty("size").GetInt64();
                        if (entry.TryGetProperty("lfs", out var lfsElement) && lfsElement.ValueKind == JsonValueKind.Object)
                        {
                            lfs = lfsElement.GetProperty("oid").GetString();
                            size = lfsElement.TryGetProperty("size", out var lfsSize) ? lfsSize.GetInt64() : size;
                        }

                        files.Add(new HubTreeFile(entry.GetProperty("path").GetString()!, size, entry.GetProperty("oid").GetString() ?? "", lfs));
                    }
                }
            }

            url = HubResponses.NextLink(response, pageUrl);
        }

        return files;
    }

    /// <summary>
    /// GETs <paramref name="location"/> from byte <paramref name="offset"/> (a Range request when above 0) and appends
    /// to <paramref name="destination"/>. Returns the offset the destination was written from: 0 when the server
    /// ignored the Range and sent the whole file (the destination is then truncated first). Network failures surface
    /// as <see cref="HubUnavailableException"/> or <see cref="IOException"/>; write failures as <see cref="HubStorageException"/>.
    /// </summary>
    public async Task<long> DownloadAsync(Uri location, FileStream destination, long offset, Action<long> onBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(onBytes);
        using var response = await GetFollowingAsync(location, offset > 0 ? offset : null, $"GET {location.AbsolutePath}", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
        {
            return offset;
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new HubException($"GET {HubResponses.Redact(location)} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}{HubResponses.ErrorMessageSuffix(response)}.");
        }

        var start = 0L;
        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            start = response.Content.Headers.ContentRange?.From ?? 0;
            if (start != offset)
            {
                throw new HubException($"GET {HubResponses.Redact(location)}: asked for bytes from {offset}, the server sent from {start}.");
            }
        }

        try
        {
            destination.SetLength(start);
            destination.Position = start;
        }
        catch (IOException ex)
        {
            throw HubStorageErrors.StorageError(ex, destination.Name);
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[1 << 16];
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (true)
        {
            int read;
            stall.CancelAfter(Options.StallTimeout);
            try
            {
                read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IOException($"No data from {location.Host} for {Options.StallTimeout.TotalSeconds:0} s.", ex);
            }

            if (read == 0)
            {
                return start;
            }

            try
            {
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw HubStorageErrors.StorageError(ex, destination.Name);
            }

            onBytes(read);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private HubFileMetadata ReadMetadata(HttpResponseMessage response, Uri location, string repo, string path)
    {
        var commit = HubResponses.RawHeader(response, "X-Repo-Commit");
        var etag = HubResponses.NormalizeEtag(HubResponses.RawHeader(response, "X-Linked-Etag") ?? HubResponses.RawHeader(response, "ETag"));
        var sizeText = HubResponses.RawHeader(response, "X-Linked-Size");
        long? size = sizeText is not null && long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var linked) ? linked : response.Content.Headers.ContentLength;
        if (commit is null || etag is null || size is null)
        {
            var missing = string.Join(", ", new[] { commit is null ? "X-Repo-Commit" : null, etag is null ? "ETag" : null, size is null ? "size" : null }.OfType<string>());
            throw new HubException(
                $"HEAD {ResolveUrl(repo, commit ?? "?", path)} answered without {missing}: {Settings.Endpoint} does not behave like the Hugging Face Hub. Check HF_ENDPOINT and any proxy in between.");
        }

        return new HubFileMetadata(commit, etag, size.Value, location);
    }

    private async Task<HttpResponseMessage> GetFollowingAsync(Uri url, long? rangeFrom, string what, CancellationToken cancellationToken)
    {
        for (var hop = 0; hop <= MaxRedirects; hop++)
        {
            var response = await SendAsync(HttpMethod.Get, url, rangeFrom, what, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && HubResponses.RawHeader(response, "Location") is { } location)
            {
                response.Dispose();
                url = new Uri(url, location);
                continue;
            }

            return response;
        }

        throw new HubException($"{what}: more than {MaxRedirects} redirects.");
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, long? rangeFrom, string what, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            HttpResponseMessage response;
            using (var request = new HttpRequestMessage(method, url))
            {
                // Sizes must be the stored bytes, never a compressed transfer.
                request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
                if (Settings.Token is { } token && HubResponses.SameAuthority(url, _endpoint))
                {
                    // Only ever to the Hub itself: a CDN or other host never sees the token.
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }

                if (rangeFrom is { } from)
                {
                    request.Headers.Range = new RangeHeaderValue(from, null);
                }

                using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                headersTimeout.CancelAfter(Options.StallTimeout);
                try
                {
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersTimeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    if (attempt >= Options.MaxConnectAttempts)
                    {
                        throw new HubUnavailableException(
                            $"Cannot reach {url.GetLeftPart(UriPartial.Authority)} ({what}): {ex.Message} Set HF_HUB_OFFLINE=1 to use only the local cache.", ex);
                    }

                    var wait = Backoff(attempt);
                    HubLog.Retrying(_logger, what, ex.Message, wait.TotalSeconds, attempt, Options.MaxConnectAttempts);
                    await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            var status = (int)response.StatusCode;
            if (status is 429 or >= 500)
            {
                var serverDelay = HubResponses.ServerDelay(response);
                if (attempt >= Options.MaxAttempts || serverDelay > Options.MaxServerDelay)
                {
                    var detail = $"HTTP {status} {response.ReasonPhrase}{HubResponses.ErrorMessageSuffix(response)}";
                    response.Dispose();
                    throw new HubUnavailableException(serverDelay > Options.MaxServerDelay
                        ? $"{what}: {detail}; the server asks to wait {serverDelay!.Value.TotalSeconds:0} s, more than the {Options.MaxServerDelay.TotalSeconds:0} s we wait. Try again later."
                        : $"{what}: {detail} after {attempt} attempts. Try again later.");
                }

                var wait = serverDelay ?? Backoff(attempt);
                HubLog.Retrying(_logger, what, $"HTTP {status}", wait.TotalSeconds, attempt, Options.MaxAttempts);
                response.Dispose();
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                continue;
            }

            return response;
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var seconds = Options.InitialBackoff.TotalSeconds * Math.Pow(2, attempt - 1);
        return TimeSpan.FromSeconds(Math.Min(seconds, Options.MaxBackoff.TotalSeconds));
    }
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.TestSupport.Hub;

/// <summary>One request either server saw.</summary>
public sealed record SeenRequest(string Server, string Method, string Path, string Query, string? Authorization, string? Range, DateTimeOffset At);

/// <summary>A file of a fake repo.</summary>
public sealed record FakeFile(string Path, byte[] Bytes, bool Lfs)
{
    /// <summary>sha256 of the bytes (the LFS oid).</summary>
    public string Sha256 { get; } = Convert.ToHexStringLower(SHA256.HashData(Bytes));

    /// <summary>git blob id: sha1("blob {n}\0" + bytes), as `git hash-object` computes.</summary>
#pragma warning disable CA5350 // git names blobs by SHA-1; this is identification, not security.
    public string GitOid { get; } = Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {Bytes.Length}\0"), .. Bytes]));
#pragma warning restore CA5350

    /// <summary>The etag the Hub names the blob by.</summary>
    public string Etag => Lfs ? Sha256 : GitOid;
}

/// <summary>A repo of the fake Hub.</summary>
public sealed class FakeRepo(string name, string commit, IReadOnlyList<FakeFile> files)
{
    public string Name { get; } = name;
    public string Commit { get; } = commit;
    public IReadOnlyList<FakeFile> Files { get; } = files;
    /// <summary>Tokens allowed when gated; null means not gated.</summary>
    public HashSet<string>? GatedAllowedTokens { get; init; }
    /// <summary>Other branch/tag names pointing at <see cref="Commit"/>.</summary>
    public HashSet<string> Revisions { get; } = ["main"];
}

/// <summary>
/// An in-process emulation of the Hugging Face Hub on loopback: the Hub itself (resolve URLs, tree API) on one
/// port and a "CDN" on another, to which LFS files redirect with a signed, expiring query. It emulates the Hub's
/// documented behaviour as huggingface_hub expects it (status codes, X-Error-Code, X-Repo-Commit, X-Linked-Etag,
/// X-Linked-Size, relative redirects for renamed repos, Link-header pagination) and injects faults on demand.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication _hub;
    private readonly WebApplication _cdn;
    private readonly ConcurrentDictionary<string, FakeRepo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _renamed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _validSignatures = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<SeenRequest> _seen = new();
    private long _signatureCounter;

    private FakeHub(WebApplication hub, WebApplication cdn)
    {
        _hub = hub;
        _cdn = cdn;
    }

    public string Endpoint { get; private set; } = "";
    public string CdnEndpoint { get; private set; } = "";

    /// <summary>Tree API page size (small, so pagination is exercised).</summary>
    public int PageSize { get; set; } = 3;

    /// <summary>
    /// Paths whose next resolve request answers with this status (then cleared): 429 carries Retry-After: 1, any other
    /// status (e.g. 503) carries only the IETF RateLimit header with a 1 s reset, as the Hub's rate limiter does.
    /// </summary>
    public ConcurrentDictionary<string, int> Throttle { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths whose next CDN download is cut after this many bytes (then cleared); the signature used is revoked.</summary>
    public ConcurrentDictionary<string, int> DropAfter { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths the CDN serves with one byte flipped.</summary>
    public ConcurrentDictionary<string, bool> Corrupt { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<SeenRequest> Seen => [.. _seen];

    public static async Task<FakeHub> StartAsync()
    {
        var hub = CreateApp();
        var cdn = CreateApp();
        var fake = new FakeHub(hub, cdn);
        fake.MapHub();
        fake.MapCdn();
        await hub.StartAsync();
        await cdn.StartAsync();
        fake.Endpoint = Address(hub);
        fake.CdnEndpoint = Address(cdn);
        return fake;
    }

    public FakeRepo AddRepo(FakeRepo repo)
    {
        _repos[repo.Name] = repo;
        return repo;
    }

    public void Rename(string oldName, string newName) => _renamed[oldName] = newName;

    /// <summary>A repo made of the files of a folder; *.onnx and *.onnx_data are LFS, like on the Hub.</summary>
    public static IReadOnlyList<FakeFile> FilesOf(string folder, params (string Path, byte[] Bytes)[] extra)
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/'))
            .Select(p => new FakeFile(p, File.ReadAllBytes(Path.Combine(folder, p)), IsLfs(p)))
            .Concat(extra.Select(e => new FakeFile(e.Path, e.Bytes, IsLfs(e.Path))))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        return files;
    }

    private static bool IsLfs(string path) => path.EndsWith(".onnx", StringComparison.Ordinal) || path.Contains(".onnx_data", StringComparison.Ordinal);

    private static WebApplication CreateApp()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        return builder.Build();
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');

    private void Record(string server, HttpContext context) =>
        _seen.Enqueue(new SeenRequest(server, context.Request.Method, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "",
            context.Request.Headers.Authorization.FirstOrDefault(), context.Request.Headers.Range.FirstOrDefault(), DateTimeOffset.UtcNow));

    private void MapHub()
    {
        _hub.MapMethods("/api/models/{owner}/{name}/tree/{revision}", ["GET"], (HttpContext context, string owner, string name, string revision) =>
        {
            Record("hub", context);
            var repoName = $"{owner}/{name}";
            if (_renamed.TryGetValue(repoName, out var newName))
            {
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = $"/api/models/{newName}/tree/{Uri.EscapeDataString(revision)}{context.Request.QueryString}";
                return Task.CompletedTask;
            }

            if (Reject(context, repoName, revision, null, out var repo))
            {
                return Task.CompletedTask;
            }

            var cursor = int.TryParse(context.Request.Query["cursor"], CultureInfo.InvariantCulture, out var c) ? c : 0;
            var page = repo.Files.Skip(cursor).Take(PageSize).ToList();
            if (cursor + PageSize < repo.Files.Count)
            {
                context.Response.Headers.Link = $"<{Endpoint}/api/models/{repoName}/tree/{Uri.EscapeDataString(revision)}?recursive=true&cursor={cursor + PageSize}>; rel=\"next\"";
            }

            var json = page.Select(f => f.Lfs
                ? (object)new { type = "file", oid = f.GitOid, size = f.Bytes.Length, path = f.Path, lfs = new { oid = f.Sha256, size = f.Bytes.Length, pointerSize = 134 } }
                : new { type = "file", oid = f.GitOid, size = f.Bytes.Length, path = f.Path });
            // Directories appear in recursive listings too; clients must skip them.
            var dirs = page.Select(f => f.Path).Where(p => p.Contains('/', StringComparison.Ordinal)).Select(p => p[..p.LastIndexOf('/')]).Distinct()
                .Select(d => (object)new { type = "directory", oid = "0000000000000000000000000000000000000000", size = 0, path = d });
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync(JsonSerializer.Serialize(dirs.Concat(json)));
        });

        _hub.MapMethods("/{owner}/{name}/resolve/{revision}/{**path}", ["GET", "HEAD"], async (HttpContext context, string owner, string name, string revision, string path) =>
        {
            Record("hub", context);
            var repoName = $"{owner}/{name}";
            if (_renamed.TryGetValue(repoName, out var newName))
            {
                // The Hub answers a renamed repo with a relative redirect to the new name.
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = $"/{newName}/resolve/{Uri.EscapeDataString(revision)}/{path}";
                return;
            }

            if (Throttle.TryRemove(path, out var throttleStatus))
            {
                context.Response.StatusCode = throttleStatus;
                if (throttleStatus == 429)
                {
                    context.Response.Headers.RetryAfter = "1";
                }
                else
                {
                    context.Response.Headers["RateLimit"] = "\"api\";r=0;t=1";
                    context.Response.Headers["RateLimit-Policy"] = "\"fixed window\";\"api\";q=500;w=300";
                }

                return;
            }

            if (Reject(context, repoName, revision, path, out var repo))
            {
                return;
            }

            var file = repo.Files.First(f => f.Path == path);
            context.Response.Headers["X-Repo-Commit"] = repo.Commit;
            if (file.Lfs)
            {
                var signature = "s" + Interlocked.Increment(ref _signatureCounter).ToString(CultureInfo.InvariantCulture);
                _validSignatures[signature] = 0;
                context.Response.StatusCode = 302;
                context.Response.Headers.Location = $"{CdnEndpoint}/repos/{repo.Commit[..8]}/{file.Sha256}?X-Amz-Signature={signature}&X-Amz-Expires=3600&response-content-disposition=attachment";
                context.Response.Headers["X-Linked-Etag"] = $"\"{file.Sha256}\"";
                context.Response.Headers["X-Linked-Size"] = file.Bytes.Length.ToString(CultureInfo.InvariantCulture);
                context.Response.Headers.ETag = $"\"{file.GitOid}\"";
                context.Response.ContentLength = 0;
                return;
            }

            context.Response.Headers.ETag = $"\"{file.GitOid}\"";
            context.Response.ContentLength = file.Bytes.Length;
            if (HttpMethods.IsGet(context.Request.Method))
            {
                await context.Response.Body.WriteAsync(file.Bytes);
            }
        });
    }

    private bool Reject(HttpContext context, string repoName, string revision, string? path, out FakeRepo repo)
    {
        var auth = context.Request.Headers.Authorization.FirstOrDefault();
        var token = auth is not null && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..] : null;
        if (!_repos.TryGetValue(repoName, out repo!))
        {
            // The Hub answers 401 for a repo it will not confirm exists.
            Fail(context, 401, "RepoNotFound", "Repository not found");
            return true;
        }

        if (repo.GatedAllowedTokens is { } allowed && (token is null || !allowed.Contains(token)))
        {
            Fail(context, token is null ? 401 : 403, "GatedRepo",
                token is null ? $"Access to model {repoName} is restricted. You must have access to it and be authenticated to access it." : $"Access to model {repoName} is restricted and you are not in the authorized list.");
            return true;
        }

        if (revision != repo.Commit && !repo.Revisions.Contains(revision))
        {
            Fail(context, 404, "RevisionNotFound", "Invalid rev id: " + revision);
            return true;
        }

        if (path is not null && repo.Files.All(f => f.Path != path))
        {
            context.Response.Headers["X-Repo-Commit"] = repo.Commit;
            Fail(context, 404, "EntryNotFound", "Entry not found");
            return true;
        }

        return false;
    }

    private static void Fail(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.Headers["X-Error-Code"] = code;
        context.Response.Headers["X-Error-Message"] = message;
    }

    private void MapCdn()
    {
        _cdn.MapGet("/repos/{prefix}/{sha}", async (HttpContext context, string prefix, string sha) =>
        {
            Record("cdn", context);
            var signature = context.Request.Query["X-Amz-Signature"].FirstOrDefault();
            if (signature is null || !_validSignatures.ContainsKey(signature))
            {
                context.Response.StatusCode = 403;
                await context.Response.WriteAsync("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
                return;
            }

            var file = _repos.Values.SelectMany(r => r.Files).First(f => f.Sha256 == sha);
            var bytes = file.Bytes;
            if (Corrupt.ContainsKey(file.Path))
            {
                bytes = (byte[])bytes.Clone();
                bytes[bytes.Length / 2] ^= 0xFF;
            }

            var from = 0L;
            var range = context.Request.Headers.Range.FirstOrDefault();
            if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            {
                from = long.Parse(range["bytes=".Length..^1], CultureInfo.InvariantCulture);
                if (from >= bytes.Length)
                {
                    context.Response.StatusCode = 416;
                    return;
                }

                context.Response.StatusCode = 206;
                context.Response.Headers.ContentRange = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
            }

            context.Response.ContentLength = bytes.Length - from;
            context.Response.Headers.ETag = $"\"{sha}\"";
            if (DropAfter.TryRemove(file.Path, out var cut))
            {
                // A dropped connection; the URL it used is revoked, as an expiring signed URL would be.
                _validSignatures.TryRemove(signature, out _);
                await context.Response.Body.WriteAsync(bytes.AsMemory((int)from, cut));
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            }

            await context.Response.Body.WriteAsync(bytes.AsMemory((int)from));
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _hub.StopAsync();
        await _cdn.StopAsync();
        await _hub.DisposeAsync();
        await _cdn.DisposeAsync();
    }
}

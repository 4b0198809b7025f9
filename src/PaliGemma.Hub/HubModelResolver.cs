using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PaliGemma.ModelLayout;

namespace PaliGemma.Hub;

/// <summary>
/// Turns a repo id into a model folder (a snapshot in the shared cache), the way transformers' from_pretrained
/// does: online, it makes sure the dtype's files are present (downloading what is missing, which is a few HEADs
/// when all is cached); with HF_HUB_OFFLINE=1, or when the Hub cannot be reached, it uses the cached snapshot of
/// the revision; with nothing cached it fails naming the <c>pgpipe models pull</c> command to run.
/// </summary>
public sealed class HubModelResolver(HubSettings settings, HubClientOptions? options = null, HttpMessageHandler? handler = null, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>Resolves <paramref name="id"/> for <paramref name="dtype"/>, downloading when allowed and needed.</summary>
    public async Task<string> ResolveAsync(HubModelId id, ModelDtype dtype, IPullProgress? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        var cache = new HubCache(settings.CacheDirectory);
        if (settings.Offline)
        {
            return FindCached(cache, id, dtype) ?? throw Miss(cache, id, dtype, " and HF_HUB_OFFLINE is set", null);
        }

        try
        {
            using var client = new HubClient(settings, options, handler, _logger);
            var result = await new HubModelPuller(client, cache, _logger).PullAsync(id, new ModelFileSelection(dtype), progress, cancellationToken).ConfigureAwait(false);
            return result.SnapshotDirectory;
        }
        catch (HubUnavailableException ex)
        {
            if (FindCached(cache, id, dtype) is { } cached)
            {
                HubLog.OfflineFallback(_logger, ex.Message, id.Repo, Path.GetFileName(cached));
                return cached;
            }

            throw Miss(cache, id, dtype, " and the Hub is unreachable", ex);
        }
    }

    /// <summary>The cached snapshot of <paramref name="id"/> holding every file <paramref name="dtype"/> needs, or null.</summary>
    public static string? FindCached(HubCache cache, HubModelId id, ModelDtype dtype)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(id);
        var commit = cache.ResolveCommit(id.Repo, id.Revision);
        if (commit is null)
        {
            return null;
        }

        var snapshot = cache.SnapshotDirectory(id.Repo, commit);
        // File.Exists follows the link: a link whose blob was deleted (failed verify) does not count.
        return ExportLayout.RequiredFiles(dtype).All(f => File.Exists(cache.SnapshotPath(id.Repo, commit, f))) ? snapshot : null;
    }

    /// <summary>The error for a repo id that is not cached, naming the command that fixes it.</summary>
    public static HubCacheMissException Miss(HubCache cache, HubModelId id, ModelDtype dtype, string why, Exception? inner)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(id);
        var revision = id.Revision == HubModelId.DefaultRevision ? "" : $" --revision {id.Revision}";
        return new HubCacheMissException(
            $"Model '{id}' (dtype {ModelDtypes.Name(dtype)}) is not in the Hugging Face cache at {cache.Directory}{why}. " +
            $"Download it first with: pgpipe models pull {id.Repo}{revision} --dtype {ModelDtypes.Name(dtype)}", inner);
    }
}

using PaliGemma.Hub;
using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Cli.Errors;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>
/// What <c>--model</c> names, for every command that loads a model: a folder is used as is; a Hugging Face repo id
/// (<c>owner/name</c> or <c>owner/name@revision</c>) resolves to its snapshot in the shared cache. Online, missing
/// files for the dtype are pulled first, with progress on stderr, as transformers' from_pretrained does (a repo
/// already cached costs one HEAD per file); with HF_HUB_OFFLINE=1 or the Hub unreachable, the cached snapshot is
/// used; with nothing cached the error names the <c>pgpipe models pull</c> command.
/// </summary>
internal static class ModelSource
{
    /// <summary>
    /// Returns a model folder for <paramref name="model"/>, with progress and logs on the command's error writer; text
    /// that is neither a folder nor a repo id is returned unchanged, so the loader reports it.
    /// </summary>
    public static async Task<string> ResolveFolderAsync(string model, string dtype, CommandContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(model);
        var trimmed = model.Trim();
        if (Directory.Exists(trimmed) || !HubModelId.TryParse(trimmed, out var id))
        {
            return trimmed;
        }

        var parsedDtype = ModelDtypes.Parse(dtype);
        var settings = HubSettings.FromEnvironment();
        var progress = PullProgressFactory.Create(context.Error, interactive: context.ErrorIsTerminal);
        // Retries, resumes and an offline fallback are worth a line on stderr.
        using var loggerFactory = context.CreateLoggerFactory();
        var resolver = new HubModelResolver(settings, logger: loggerFactory.CreateLogger("pgpipe.hub"));
        try
        {
            return await progress.RunAsync(p => resolver.ResolveAsync(id, parsedDtype, p, cancellationToken)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HubRepoNotFoundException or HubCacheMissException)
        {
            // "owner/name" is also the shape of a relative path: say that both readings were tried.
            throw new UsageException($"--model '{trimmed}' is not a local folder ({Path.GetFullPath(trimmed)}), and as a Hugging Face repo id: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// For hosts that resolve the model themselves from configuration (worker, run): makes sure a repo id's files are
    /// in the cache before the host starts, so the host's offline cache lookup finds them. A null model (taken from
    /// configuration) is left to the host.
    /// </summary>
    public static async Task EnsureAsync(string? model, string? dtype, CommandContext context, CancellationToken cancellationToken, string? modelsDirectory = null)
    {
        // A folder under Worker:ModelsDirectory wins over a repo id of the same spelling, as in ModelReference.
        if (!string.IsNullOrWhiteSpace(model) && (string.IsNullOrWhiteSpace(modelsDirectory) || !Directory.Exists(Path.Combine(modelsDirectory, model.Trim()))))
        {
            _ = await ResolveFolderAsync(model, string.IsNullOrWhiteSpace(dtype) ? "fp32" : dtype, context, cancellationToken).ConfigureAwait(false);
        }
    }
}

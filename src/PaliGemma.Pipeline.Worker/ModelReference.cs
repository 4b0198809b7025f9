using PaliGemma.Hub;
using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Resolves what users type after --model into a model key (what results and queues are keyed by) and, where the
/// files are present, the model folder. A folder's id is its folder name, so a producer that only knows the id and a
/// worker with the files mounted agree on the key and the queue.
/// </summary>
public sealed record ModelReference(ModelKey Key, string? Folder)
{
    /// <summary>Resolves <paramref name="model"/>: an existing folder, an id under <paramref name="modelsDirectory"/>, a Hugging Face repo id found in the shared cache, or a bare id.</summary>
    public static ModelReference Resolve(string model, string dtype, string? modelsDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        var normalizedDtype = ModelDtypes.Name(ModelDtypes.Parse(dtype));
        var trimmed = model.Trim().TrimEnd('/', '\\');
        if (Directory.Exists(trimmed))
        {
            var full = Path.GetFullPath(trimmed);
            return new ModelReference(new ModelKey(Path.GetFileName(full), normalizedDtype), full);
        }

        if (!string.IsNullOrWhiteSpace(modelsDirectory))
        {
            var candidate = Path.Combine(modelsDirectory, trimmed);
            if (Directory.Exists(candidate))
            {
                return new ModelReference(new ModelKey(trimmed, normalizedDtype), Path.GetFullPath(candidate));
            }
        }

        if (HubModelId.TryParse(trimmed, out var hubId))
        {
            // A Hugging Face repo id: the snapshot in the shared cache (HF_HOME / HF_HUB_CACHE), looked up offline.
            // Pulling is the CLI's or the init container's job, never a side effect of building a host.
            var cache = new HubCache(HubSettings.FromEnvironment().CacheDirectory);
            var parsed = ModelDtypes.Parse(dtype);
            var snapshot = HubModelResolver.FindCached(cache, hubId, parsed);
            return new ModelReference(new ModelKey(trimmed, normalizedDtype), snapshot)
            {
                MissingReason = snapshot is null ? HubModelResolver.Miss(cache, hubId, parsed, "", null).Message : null,
            };
        }

        return new ModelReference(new ModelKey(trimmed, normalizedDtype), null);
    }

    /// <summary>Why <see cref="Folder"/> is null, when there is more to say than "not found" (e.g. the pull command to run).</summary>
    public string? MissingReason { get; init; }

    /// <summary>The model folder a worker loads.</summary>
    /// <exception cref="DirectoryNotFoundException">There is none; the message says what Worker:Model must name.</exception>
    public string RequireFolder() => Folder ?? throw new DirectoryNotFoundException(MissingReason ??
        $"Model '{Key.Id}' not found: Worker:Model (--model) must be a model folder, an id under Worker:ModelsDirectory, or a Hugging Face repo id in the cache.");
}

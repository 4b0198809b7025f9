using PaliGemma.Inference.Model;
using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Resolves what users type after --model into a model key (what results and queues are keyed by) and, where the
/// files are present, the model folder. A folder's id is its folder name, so a producer that only knows the id and a
/// worker with the files mounted agree on the key and the queue.
/// </summary>
public sealed record ModelReference(ModelKey Key, string? Folder)
{
    /// <summary>Resolves <paramref name="model"/>: an existing folder, an id under <paramref name="modelsDirectory"/>, or a bare id.</summary>
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

        return new ModelReference(new ModelKey(trimmed, normalizedDtype), null);
    }
}

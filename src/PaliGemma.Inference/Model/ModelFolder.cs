using PaliGemma.ModelLayout;

namespace PaliGemma.Inference.Model;

/// <summary>
/// The files of a PaliGemma model folder in the Hugging Face / onnx-community layout, resolved for one dtype.
/// Construction only checks that files exist; <see cref="PaliGemmaConfig"/> reads and cross-checks them.
/// </summary>
public sealed class ModelFolder
{
    private ModelFolder(string directory, ModelDtype dtype)
    {
        Directory = directory;
        Dtype = dtype;
        VisionEncoderPath = System.IO.Path.Combine(directory, ExportLayout.GraphFile("vision_encoder", dtype));
        EmbedTokensPath = System.IO.Path.Combine(directory, ExportLayout.GraphFile("embed_tokens", dtype));
        DecoderPath = System.IO.Path.Combine(directory, ExportLayout.GraphFile("decoder_model_merged", dtype));
    }

    /// <summary>The model folder (absolute).</summary>
    public string Directory { get; }

    /// <summary>The dtype whose graph files were resolved.</summary>
    public ModelDtype Dtype { get; }

    /// <summary>Path of config.json.</summary>
    public string ConfigPath => System.IO.Path.Combine(Directory, "config.json");

    /// <summary>Path of generation_config.json (optional in the folder).</summary>
    public string GenerationConfigPath => System.IO.Path.Combine(Directory, "generation_config.json");

    /// <summary>Path of preprocessor_config.json.</summary>
    public string PreprocessorConfigPath => System.IO.Path.Combine(Directory, "preprocessor_config.json");

    /// <summary>Path of tokenizer.json.</summary>
    public string TokenizerPath => System.IO.Path.Combine(Directory, "tokenizer.json");

    /// <summary>Path of tokenizer_config.json.</summary>
    public string TokenizerConfigPath => System.IO.Path.Combine(Directory, "tokenizer_config.json");

    /// <summary>Path of the vision encoder graph for <see cref="Dtype"/>.</summary>
    public string VisionEncoderPath { get; }

    /// <summary>Path of the token embedding graph for <see cref="Dtype"/>.</summary>
    public string EmbedTokensPath { get; }

    /// <summary>Path of the merged decoder graph for <see cref="Dtype"/>.</summary>
    public string DecoderPath { get; }

    /// <summary>
    /// Resolves a model folder for a dtype. Throws <see cref="ModelFormatException"/> naming the first missing file;
    /// when a graph is missing for the dtype, the message lists the dtypes the folder does have.
    /// </summary>
    public static ModelFolder Open(string directory, ModelDtype dtype)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var full = System.IO.Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(full))
        {
            throw new ModelFormatException(full, "model folder not found.");
        }

        var folder = new ModelFolder(full, dtype);
        foreach (var required in ExportLayout.RequiredRootFiles.Select(f => System.IO.Path.Combine(full, f)))
        {
            if (!File.Exists(required))
            {
                throw new ModelFormatException(required, "required model file not found.");
            }
        }

        foreach (var graph in new[] { folder.VisionEncoderPath, folder.EmbedTokensPath, folder.DecoderPath })
        {
            if (!File.Exists(graph))
            {
                var onnxDir = System.IO.Path.Combine(full, "onnx");
                var available = System.IO.Directory.Exists(onnxDir) ? ModelDtypes.Available(onnxDir) : [];
                var hint = available.Count == 0
                    ? "no complete set of vision_encoder/embed_tokens/decoder_model_merged graphs exists in onnx/."
                    : $"dtypes with all three graphs here: {string.Join(", ", available.Select(ModelDtypes.Name))}.";
                throw new ModelFormatException(graph, $"graph for dtype '{ModelDtypes.Name(dtype)}' not found; {hint}");
            }
        }

        return folder;
    }
}

namespace PaliGemma.ModelLayout;

/// <summary>
/// The files a PaliGemma export in the Hugging Face / onnx-community layout must have, by repo-relative path. The
/// model runtime checks a folder against it and the Hub downloader decides what a pull needs from it, so the two
/// can never disagree about what makes a complete model.
/// </summary>
public static class ExportLayout
{
    /// <summary>The three graph base names every export has, under <c>onnx/</c>.</summary>
    public static IReadOnlyList<string> GraphNames { get; } = ["vision_encoder", "embed_tokens", "decoder_model_merged"];

    /// <summary>The root files a model cannot load without (generation_config.json is optional).</summary>
    public static IReadOnlyList<string> RequiredRootFiles { get; } = ["config.json", "preprocessor_config.json", "tokenizer.json"];

    /// <summary>The repo-relative path of one graph for a dtype, e.g. <c>onnx/decoder_model_merged_q4.onnx</c>.</summary>
    public static string GraphFile(string graphName, ModelDtype dtype) => $"onnx/{graphName}{ModelDtypes.Suffix(dtype)}.onnx";

    /// <summary>The three graph paths a dtype needs, repo-relative.</summary>
    public static IReadOnlyList<string> RequiredGraphFiles(ModelDtype dtype) => GraphNames.Select(g => GraphFile(g, dtype)).ToArray();

    /// <summary>Every file a model folder needs for a dtype: the root files and the three graphs, repo-relative.</summary>
    public static IReadOnlyList<string> RequiredFiles(ModelDtype dtype) => [.. RequiredRootFiles, .. RequiredGraphFiles(dtype)];
}

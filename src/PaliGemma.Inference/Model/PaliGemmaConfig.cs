using System.Text.Json;

namespace PaliGemma.Inference.Model;

/// <summary>
/// What config.json and generation_config.json declare about a PaliGemma model. Every dimension the runtime
/// needs comes from here or from the graphs' own metadata (see the runtime's graph contract checks), never from constants.
/// </summary>
public sealed record PaliGemmaConfig
{
    /// <summary>The token id whose embedding rows are replaced by image features.</summary>
    public required int ImageTokenId { get; init; }

    /// <summary>Decoder layer count (text_config.num_hidden_layers).</summary>
    public required int NumLayers { get; init; }

    /// <summary>Key/value heads per layer (text_config.num_key_value_heads).</summary>
    public required int NumKeyValueHeads { get; init; }

    /// <summary>Per-head dimension (text_config.head_dim, or hidden_size / num_attention_heads).</summary>
    public required int HeadDim { get; init; }

    /// <summary>Text hidden size (text_config.hidden_size).</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Vocabulary size declared by the text config, if any.</summary>
    public int? VocabSize { get; init; }

    /// <summary>Largest position the decoder supports (text_config.max_position_embeddings), if declared.</summary>
    public int? MaxPositionEmbeddings { get; init; }

    /// <summary>Image tokens per image declared by vision_config.num_image_tokens, if any.</summary>
    public int? NumImageTokens { get; init; }

    /// <summary>Generation stops on any of these ids (generation_config.json eos_token_id, else config.json's).</summary>
    public required IReadOnlyList<int> EosTokenIds { get; init; }

    /// <summary>Padding id from generation_config.json or config.json, if declared.</summary>
    public int? PadTokenId { get; init; }

    /// <summary>Reads config.json and (when present) generation_config.json of a model folder.</summary>
    public static PaliGemmaConfig Load(ModelFolder folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var config = JsonFile.Load(folder.ConfigPath);
        var root = config.Root;
        var modelType = JsonFile.OptionalString(root, "model_type");
        if (modelType is not null && !string.Equals(modelType, "paligemma", StringComparison.Ordinal))
        {
            throw new ModelFormatException(config.Path, $"model_type is '{modelType}', expected 'paligemma'.");
        }

        var text = JsonFile.Child(root, "text_config")
            ?? throw new ModelFormatException(config.Path, "missing 'text_config' object.");
        var imageToken = config.OptionalInt(root, "image_token_index", "")
            ?? config.OptionalInt(root, "image_token_id", "")
            ?? throw new ModelFormatException(config.Path, "missing 'image_token_index' (or 'image_token_id').");
        var hidden = config.RequiredInt(text, "hidden_size", "text_config.");
        var layers = config.RequiredInt(text, "num_hidden_layers", "text_config.");
        var heads = config.OptionalInt(text, "num_attention_heads", "text_config.");
        var kvHeads = config.OptionalInt(text, "num_key_value_heads", "text_config.") ?? heads
            ?? throw new ModelFormatException(config.Path, "missing 'text_config.num_key_value_heads'.");
        var headDim = config.OptionalInt(text, "head_dim", "text_config.")
            ?? (heads is > 0 ? hidden / heads.Value : throw new ModelFormatException(config.Path, "missing 'text_config.head_dim' and 'num_attention_heads'."));
        if (layers <= 0 || kvHeads <= 0 || headDim <= 0 || hidden <= 0)
        {
            throw new ModelFormatException(config.Path, "text_config dimensions must be positive.");
        }

        int? numImageTokens = JsonFile.Child(root, "vision_config") is { } vision
            ? config.OptionalInt(vision, "num_image_tokens", "vision_config.")
            : null;

        IReadOnlyList<int> eos = [];
        int? pad = null;
        if (File.Exists(folder.GenerationConfigPath))
        {
            var gen = JsonFile.Load(folder.GenerationConfigPath);
            eos = gen.IntOrIntList(gen.Root, "eos_token_id", "");
            pad = gen.OptionalInt(gen.Root, "pad_token_id", "");
        }

        if (eos.Count == 0)
        {
            eos = config.IntOrIntList(root, "eos_token_id", "");
        }

        if (eos.Count == 0)
        {
            eos = config.IntOrIntList(text, "eos_token_id", "text_config.");
        }

        pad ??= config.OptionalInt(root, "pad_token_id", "") ?? config.OptionalInt(text, "pad_token_id", "text_config.");

        return new PaliGemmaConfig
        {
            ImageTokenId = imageToken,
            NumLayers = layers,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            HiddenSize = hidden,
            VocabSize = config.OptionalInt(text, "vocab_size", "text_config.") ?? config.OptionalInt(root, "vocab_size", ""),
            MaxPositionEmbeddings = config.OptionalInt(text, "max_position_embeddings", "text_config."),
            NumImageTokens = numImageTokens,
            EosTokenIds = eos,
            PadTokenId = pad,
        };
    }
}

using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PaliGemma.Inference.Model;

namespace PaliGemma.Inference.Runtime;

/// <summary>
/// The tensor contract of the three graphs as the sessions declare it (the onnx-community export layout: vision
/// encoder, embed_tokens, and a merged decoder with past_key_values/present), checked against config.json. Anything a graph declares wins over assumptions; a disagreement is a <see cref="ModelFormatException"/>
/// naming the graph file.
/// </summary>
internal sealed class GraphContract
{
    public const string PixelValues = "pixel_values";
    public const string ImageFeatures = "image_features";
    public const string InputIds = "input_ids";
    public const string InputsEmbeds = "inputs_embeds";
    public const string PositionIds = "position_ids";
    public const string AttentionMask = "attention_mask";
    public const string NumLogitsToKeep = "num_logits_to_keep";
    public const string Logits = "logits";

    public required TensorElementType PixelType { get; init; }
    public required TensorElementType FeatureType { get; init; }
    public required TensorElementType EmbedType { get; init; }
    public required TensorElementType DecoderEmbedType { get; init; }
    public required TensorElementType KvType { get; init; }
    public required TensorElementType LogitsType { get; init; }
    public required bool HasAttentionMask { get; init; }
    public required bool HasNumLogitsToKeep { get; init; }
    public required string[] PastNames { get; init; }
    public required string[] PresentNames { get; init; }
    public required int ImageTokens { get; init; }
    public required int Hidden { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }

    public static GraphContract Validate(ModelFolder folder, PaliGemmaConfig config, InferenceSession vision, InferenceSession embed, InferenceSession decoder,
        int imageHeight, int imageWidth, int imageTokens)
    {
        var v = folder.VisionEncoderPath;
        var pixel = Input(vision, v, PixelValues);
        ExpectRank(pixel, v, PixelValues, 4);
        ExpectDim(pixel, v, PixelValues, 1, 3, "3 colour channels");
        ExpectDim(pixel, v, PixelValues, 2, imageHeight, $"preprocessor_config.json height {imageHeight}");
        ExpectDim(pixel, v, PixelValues, 3, imageWidth, $"preprocessor_config.json width {imageWidth}");
        var features = Output(vision, v, ImageFeatures);
        ExpectRank(features, v, ImageFeatures, 3);
        ExpectDim(features, v, ImageFeatures, 1, imageTokens, $"image_seq_length {imageTokens} from preprocessor_config.json");
        ExpectDim(features, v, ImageFeatures, 2, config.HiddenSize, $"text_config.hidden_size {config.HiddenSize} from config.json");

        var e = folder.EmbedTokensPath;
        var ids = Input(embed, e, InputIds);
        if (ids.ElementDataType != TensorElementType.Int64)
        {
            throw new ModelFormatException(e, $"input '{InputIds}' is {ids.ElementDataType}, expected int64.");
        }

        var embeds = Output(embed, e, InputsEmbeds);
        ExpectDim(embeds, e, InputsEmbeds, 2, config.HiddenSize, $"text_config.hidden_size {config.HiddenSize} from config.json");

        var d = folder.DecoderPath;
        var decEmbeds = Input(decoder, d, InputsEmbeds);
        ExpectDim(decEmbeds, d, InputsEmbeds, 2, config.HiddenSize, $"text_config.hidden_size {config.HiddenSize} from config.json");
        Input(decoder, d, PositionIds);
        var logits = Output(decoder, d, Logits);
        ExpectRank(logits, d, Logits, 3);

        var past = new string[config.NumLayers * 2];
        var present = new string[config.NumLayers * 2];
        TensorElementType? kvType = null;
        for (var i = 0; i < config.NumLayers; i++)
        {
            for (var kv = 0; kv < 2; kv++)
            {
                var part = kv == 0 ? "key" : "value";
                var name = $"past_key_values.{i}.{part}";
                var meta = Input(decoder, d, name, $"config.json declares {config.NumLayers} layers");
                ExpectRank(meta, d, name, 4);
                ExpectDim(meta, d, name, 1, config.NumKeyValueHeads, $"text_config.num_key_value_heads {config.NumKeyValueHeads}");
                ExpectDim(meta, d, name, 3, config.HeadDim, $"text_config.head_dim {config.HeadDim}");
                kvType ??= meta.ElementDataType;
                past[(i * 2) + kv] = name;
                var outName = $"present.{i}.{part}";
                Output(decoder, d, outName, $"config.json declares {config.NumLayers} layers");
                present[(i * 2) + kv] = outName;
            }
        }

        var extraLayer = $"past_key_values.{config.NumLayers}.key";
        if (decoder.InputMetadata.ContainsKey(extraLayer))
        {
            throw new ModelFormatException(d, $"declares '{extraLayer}' but config.json text_config.num_hidden_layers is {config.NumLayers}.");
        }

        var known = new HashSet<string>(past, StringComparer.Ordinal) { InputsEmbeds, PositionIds, AttentionMask, NumLogitsToKeep };
        var unknown = decoder.InputMetadata.Keys.Where(k => !known.Contains(k)).ToArray();
        if (unknown.Length > 0)
        {
            throw new ModelFormatException(d, $"declares inputs this runtime does not know how to feed: {string.Join(", ", unknown)}.");
        }

        var contract = new GraphContract
        {
            PixelType = Supported(pixel.ElementDataType, v, PixelValues),
            FeatureType = Supported(features.ElementDataType, v, ImageFeatures),
            EmbedType = Supported(embeds.ElementDataType, e, InputsEmbeds),
            DecoderEmbedType = Supported(decEmbeds.ElementDataType, d, InputsEmbeds),
            KvType = Supported(kvType!.Value, d, "past_key_values"),
            LogitsType = Supported(logits.ElementDataType, d, Logits),
            HasAttentionMask = decoder.InputMetadata.ContainsKey(AttentionMask),
            HasNumLogitsToKeep = decoder.InputMetadata.ContainsKey(NumLogitsToKeep),
            PastNames = past,
            PresentNames = present,
            ImageTokens = imageTokens,
            Hidden = config.HiddenSize,
            KvHeads = config.NumKeyValueHeads,
            HeadDim = config.HeadDim,
        };
        return contract;
    }

    private static TensorElementType Supported(TensorElementType type, string file, string name) =>
        type is TensorElementType.Float or TensorElementType.Float16
            ? type
            : throw new ModelFormatException(file, $"'{name}' has element type {type}; only float32 and float16 tensors are supported.");

    private static NodeMetadata Input(InferenceSession s, string file, string name, string? why = null) =>
        s.InputMetadata.TryGetValue(name, out var m)
            ? m
            : throw new ModelFormatException(file, $"missing input '{name}'{(why is null ? "" : $" ({why})")}; it declares: {string.Join(", ", s.InputMetadata.Keys.Take(8))}{(s.InputMetadata.Count > 8 ? ", ..." : "")}.");

    private static NodeMetadata Output(InferenceSession s, string file, string name, string? why = null) =>
        s.OutputMetadata.TryGetValue(name, out var m)
            ? m
            : throw new ModelFormatException(file, $"missing output '{name}'{(why is null ? "" : $" ({why})")}; it declares: {string.Join(", ", s.OutputMetadata.Keys.Take(8))}{(s.OutputMetadata.Count > 8 ? ", ..." : "")}.");

    private static void ExpectRank(NodeMetadata m, string file, string name, int rank)
    {
        if (m.Dimensions.Length != rank)
        {
            throw new ModelFormatException(file, $"'{name}' has rank {m.Dimensions.Length}, expected {rank}.");
        }
    }

    // A dimension of -1 is symbolic (dynamic): nothing to check against.
    private static void ExpectDim(NodeMetadata m, string file, string name, int axis, int expected, string source)
    {
        if (m.Dimensions.Length > axis && m.Dimensions[axis] > 0 && m.Dimensions[axis] != expected)
        {
            throw new ModelFormatException(file, $"'{name}' axis {axis} is {m.Dimensions[axis]}, but {source}.");
        }
    }
}

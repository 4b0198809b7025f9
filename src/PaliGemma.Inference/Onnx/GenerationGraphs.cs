namespace PaliGemma.Inference.Onnx;

/// <summary>
/// The small graphs the generator runs on the execution provider so that generation state never has to visit the
/// host: the prefill merge of image features into the prompt embeddings, row compaction, the step advance of
/// positions and attention mask, and a type cast. Each is built in code for one model's widths and types.
/// </summary>
internal static class GenerationGraphs
{
    /// <summary>Names of the merge graph's inputs and outputs.</summary>
    public const string RawEmbeds = "raw_embeds";
    public const string ImageFeatures = "image_features";
    public const string RowImage = "row_image";
    public const string PrefixLength = "prefix_length";
    public const string InputsEmbeds = "inputs_embeds";
    public const string PositionIds = "position_ids";
    public const string AttentionMask = "attention_mask";

    /// <summary>Name of the compaction graph's row index input.</summary>
    public const string Keep = "keep";

    /// <summary>Names of the advance graph's outputs (also the decoder rewrite's).</summary>
    public const string NextPositionIds = "pgpipe/next_position_ids";
    public const string NextAttentionMask = "pgpipe/next_attention_mask";

    /// <summary>
    /// Prefill merge: <c>inputs_embeds[r, p]</c> is the embedding of the row's token, except at the row's image tokens,
    /// which take its image's feature vectors in order; also the row's position ids and attention mask.
    /// </summary>
    /// <remarks>
    /// Rows are left-padded to the batch's width S: row r's prefix (length <c>prefix_length[r]</c>) starts at
    /// <c>S - prefix_length[r]</c>, and every prefix starts with exactly <paramref name="imageTokens"/> image tokens
    /// (the PaliGemma prompt layout <c>&lt;image&gt;*N &lt;bos&gt; prompt \n</c>, which the model builds and checks). So the k-th
    /// real position of a row below N is its k-th image token, and nothing needs the token ids. Positions count real
    /// tokens from 1; padding gets position 1 and mask 0 (what transformers.js feeds).
    /// </remarks>
    public static byte[] Merge(int imageTokens, int hidden, int embedType, int featureType, int decoderEmbedType, bool withMask)
    {
        var b = new OnnxModelBuilder("merge");
        var raw = b.Input(RawEmbeds, embedType, 3);
        var features = b.Input(ImageFeatures, featureType, 3);
        var rowImage = b.Input(RowImage, OnnxType.Int64, 1);
        var prefix = b.Input(PrefixLength, OnnxType.Int64, 1);

        var width = b.Node("Gather", [b.Node("Shape", [raw]), b.Int64Scalar(1)]);
        var columns = b.Node("Range", [b.Int64Scalar(0), width, b.Int64Scalar(1)]);
        var offset = b.Node("Sub", [width, b.Node("Reshape", [prefix, b.Int64s(-1, 1)])]);
        var rel = b.Node("Sub", [columns, offset]);
        var real = b.Node("Not", [b.Node("Less", [rel, b.Int64Scalar(0)])]);
        b.Node("Where", [real, b.Node("Add", [rel, b.Int64Scalar(1)]), b.Int64Scalar(1)], PositionIds);
        b.Output(PositionIds, OnnxType.Int64, 2);
        if (withMask)
        {
            b.Node("Cast", [real], AttentionMask, OnnxAttr.I("to", OnnxType.Int64));
            b.Output(AttentionMask, OnnxType.Int64, 2);
        }

        var isImage = b.Node("And", [real, b.Node("Less", [rel, b.Int64Scalar(imageTokens)])]);
        var k = b.Node("Min", [b.Node("Max", [rel, b.Int64Scalar(0)]), b.Int64Scalar(imageTokens - 1)]);
        var firstFeature = b.Node("Mul", [b.Node("Reshape", [rowImage, b.Int64s(-1, 1)]), b.Int64Scalar(imageTokens)]);
        var table = b.Node("Reshape", [features, b.Int64s(-1, hidden)]);
        var gathered = b.Node("Gather", [table, b.Node("Add", [firstFeature, k])], null, OnnxAttr.I("axis", 0));
        if (featureType != decoderEmbedType)
        {
            gathered = b.Node("Cast", [gathered], null, OnnxAttr.I("to", decoderEmbedType));
        }

        var embeds = embedType == decoderEmbedType ? raw : b.Node("Cast", [raw], null, OnnxAttr.I("to", decoderEmbedType));
        var condition = b.Node("Unsqueeze", [isImage, b.Int64s(2)]);
        b.Node("Where", [condition, gathered, embeds], InputsEmbeds);
        b.Output(InputsEmbeds, decoderEmbedType, 3);
        return b.Build("pgpipe_prefill_merge");
    }

    /// <summary>Row compaction: output <c>y{i}</c> is input <c>x{i}</c> with only the rows listed in <c>keep</c> (axis 0), in that order.</summary>
    public static byte[] Compaction(IReadOnlyList<(int ElemType, int Rank)> tensors)
    {
        var b = new OnnxModelBuilder("compact");
        var keep = b.Input(Keep, OnnxType.Int64, 1);
        for (var i = 0; i < tensors.Count; i++)
        {
            var x = b.Input(CompactionInput(i), tensors[i].ElemType, tensors[i].Rank);
            b.Node("Gather", [x, keep], CompactionOutput(i), OnnxAttr.I("axis", 0));
            b.Output(CompactionOutput(i), tensors[i].ElemType, tensors[i].Rank);
        }

        return b.Build("pgpipe_compaction");
    }

    public static string CompactionInput(int i) => $"x{i}";

    public static string CompactionOutput(int i) => $"y{i}";

    /// <summary>Step advance for decoders the rewrite could not extend: next position ids and the mask grown by one column.</summary>
    public static byte[] Advance(bool withMask)
    {
        var b = new OnnxModelBuilder("advance");
        var positions = b.Input(PositionIds, OnnxType.Int64, 2);
        var mask = withMask ? b.Input(AttentionMask, OnnxType.Int64, 2) : null;
        EmitAdvance(b, positions, mask);
        return b.Build("pgpipe_advance");
    }

    /// <summary>Element type conversion, for exports whose embed_tokens and decoder disagree on the embeddings' type.</summary>
    public static byte[] Cast(int from, int to)
    {
        var b = new OnnxModelBuilder("cast");
        var x = b.Input("x", from, 3);
        b.Node("Cast", [x], "y", OnnxAttr.I("to", to));
        b.Output("y", to, 3);
        return b.Build("pgpipe_cast");
    }

    /// <summary>
    /// Appends the nodes that turn this step's position ids (and mask) into the next step's: the last column plus one,
    /// and the mask with a column of ones appended. Declares both as graph outputs.
    /// </summary>
    public static void EmitAdvance(OnnxModelBuilder b, string positions, string? mask)
    {
        var last = b.Node("Slice", [positions, b.Int64s(-1), b.Int64s(long.MaxValue), b.Int64s(1)]);
        b.Node("Add", [last, b.Int64s(1)], NextPositionIds);
        b.Output(NextPositionIds, OnnxType.Int64, 2);
        if (mask is null)
        {
            return;
        }

        var rows = b.Node("Slice", [b.Node("Shape", [mask]), b.Int64s(0), b.Int64s(1), b.Int64s(0)]);
        var onesShape = b.Node("Concat", [rows, b.Int64s(1)], null, OnnxAttr.I("axis", 0));
        var ones = b.Node("ConstantOfShape", [onesShape], null, OnnxModelBuilder.Int64Value(1));
        b.Node("Concat", [mask, ones], NextAttentionMask, OnnxAttr.I("axis", 1));
        b.Output(NextAttentionMask, OnnxType.Int64, 2);
    }
}

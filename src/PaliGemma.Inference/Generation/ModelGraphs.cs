using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Onnx;
using PaliGemma.Inference.Runtime;

namespace PaliGemma.Inference.Generation;

/// <summary>
/// Every session a model runs, all on one execution provider: the three exported graphs (the decoder possibly
/// rewritten), the helper graphs built in code, the provider's memory and the reused host buffers. Owns and disposes
/// them all; a failure midway through loading disposes what was already created.
/// </summary>
internal sealed class ModelGraphs : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    private ModelGraphs()
    {
    }

    public InferenceSession Vision { get; private set; } = null!;

    public InferenceSession Embed { get; private set; } = null!;

    public InferenceSession Decoder { get; private set; } = null!;

    /// <summary>Prefill merge of image features, positions and mask (<see cref="GenerationGraphs.Merge"/>).</summary>
    public InferenceSession Merge { get; private set; } = null!;

    /// <summary>Row compaction (<see cref="GenerationGraphs.Compaction"/>) over <see cref="CompactedTensors"/>.</summary>
    public InferenceSession Compaction { get; private set; } = null!;

    /// <summary>Step advance, only when the decoder could not be given the greedy head.</summary>
    public InferenceSession? Advance { get; private set; }

    /// <summary>embed_tokens' type to the decoder's, only for exports whose two graphs disagree.</summary>
    public InferenceSession? Cast { get; private set; }

    public GraphContract Contract { get; private set; } = null!;

    public DeviceMemory Memory { get; private set; } = null!;

    public HostBuffers Host { get; private set; } = null!;

    public string DeviceName { get; private set; } = "cpu";

    /// <summary>The tokenizer's padding id (left padding of prefill rows).</summary>
    public long PadId { get; private set; }

    /// <summary>Prefill computes only the last position's logits (rewrite or num_logits_to_keep).</summary>
    public bool LastPositionOnly { get; private set; }

    /// <summary>The decoder returns token ids, the next positions and mask (the greedy head); otherwise logits are read on the host.</summary>
    public bool GreedyOnDevice { get; private set; }

    /// <summary>The greedy head also returns the top-1 minus top-2 margin.</summary>
    public bool TrackMargin { get; private set; }

    /// <summary>What the compaction graph gathers, in order: [next tokens when greedy on device], positions, [mask], KV.</summary>
    public int CompactedTensors { get; private set; }

    public static ModelGraphs Load(ModelFolder folder, PaliGemmaConfig config, ImageProcessorConfig image, InferenceOptions options, SessionFactory factory, long padId,
        ILogger logger)
    {
        var g = new ModelGraphs { DeviceName = factory.DeviceName, TrackMargin = options.TrackTopMargin, PadId = padId };
        try
        {
            g.Vision = g.Own(factory.Create(folder.VisionEncoderPath, "vision_encoder"));
            g.Embed = g.Own(factory.Create(folder.EmbedTokensPath, "embed_tokens"));
            g.Decoder = g.Own(g.CreateDecoder(folder, options, factory, logger));
            g.Contract = GraphContract.Validate(folder, config, g.Vision, g.Embed, g.Decoder, image.Height, image.Width, image.ImageSeqLength);
            g.LastPositionOnly |= g.Contract.HasNumLogitsToKeep;
            var c = g.Contract;
            g.Memory = g.Own(DeviceMemory.Create(g.Decoder, factory.ResolvedDevice, options.DeviceId, options.HostBoundState, logger));
            g.Host = g.Own(new HostBuffers(g.Memory));
            g.Merge = g.Own(factory.Create(GenerationGraphs.Merge(image.ImageSeqLength, config.HiddenSize, (int)c.EmbedType, (int)c.FeatureType,
                (int)c.DecoderEmbedType, c.HasAttentionMask), "prefill merge (built in code)"));
            var compacted = new List<(int, int)>();
            if (g.GreedyOnDevice)
            {
                compacted.Add((OnnxType.Int64, 2));
            }

            compacted.Add((OnnxType.Int64, 2));
            if (c.HasAttentionMask)
            {
                compacted.Add((OnnxType.Int64, 2));
            }

            compacted.AddRange(c.PastNames.Select(_ => ((int)c.KvType, 4)));
            g.CompactedTensors = compacted.Count;
            g.Compaction = g.Own(factory.Create(GenerationGraphs.Compaction(compacted), "row compaction (built in code)"));
            if (!g.GreedyOnDevice)
            {
                g.Advance = g.Own(factory.Create(GenerationGraphs.Advance(c.HasAttentionMask), "step advance (built in code)"));
            }

            if (c.EmbedType != c.DecoderEmbedType)
            {
                g.Cast = g.Own(factory.Create(GenerationGraphs.Cast((int)c.EmbedType, (int)c.DecoderEmbedType), "embeddings cast (built in code)"));
            }

            return g;
        }
        catch
        {
            g.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        // Reverse order: host buffers before the memory whose allocators made them.
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }

        _owned.Clear();
    }

    private T Own<T>(T value)
        where T : IDisposable
    {
        _owned.Add(value);
        return value;
    }

    /// <summary>
    /// The decoder session: the file as exported, or its bytes after the last-position rewrite (skipped when the
    /// decoder declares num_logits_to_keep, which does the same job) and the greedy head (unless the host-bound data
    /// flow was asked for). A graph the rewriter cannot extend runs as it is, with its logits read on the host.
    /// </summary>
    private InferenceSession CreateDecoder(ModelFolder folder, InferenceOptions options, SessionFactory factory, ILogger logger)
    {
        var wantGreedy = !options.HostBoundState && !options.DisableGreedyHead;
        if (!options.RewriteDecoder && !wantGreedy)
        {
            return factory.Create(folder.DecoderPath, "decoder_model_merged");
        }

        var length = new FileInfo(folder.DecoderPath).Length;
        if (length > Array.MaxLength)
        {
            const string reason = "the decoder file is over 2 GB, so it is not a single protobuf this rewriter reads";
            InferenceLog.DecoderNotRewritten(logger, reason);
            InferenceLog.GreedyHeadNotAdded(logger, reason);
            return factory.Create(folder.DecoderPath, "decoder_model_merged");
        }

        var bytes = File.ReadAllBytes(folder.DecoderPath);
        var modified = false;
        if (options.RewriteDecoder && !OnnxModelInfo.Read(bytes).Inputs.Contains(GraphContract.NumLogitsToKeep))
        {
            var slice = DecoderGraphRewriter.TrySliceLastPosition(bytes);
            if (slice is { Rewritten: true, Model: { } sliced })
            {
                InferenceLog.DecoderRewritten(logger, slice.Description);
                bytes = sliced;
                modified = true;
                LastPositionOnly = true;
            }
            else
            {
                InferenceLog.DecoderNotRewritten(logger, slice.Description);
            }
        }

        if (wantGreedy)
        {
            var greedy = DecoderGraphRewriter.TryAddGreedyHead(bytes, options.TrackTopMargin);
            if (greedy is { Rewritten: true, Model: { } extended })
            {
                InferenceLog.GreedyHeadAdded(logger, greedy.Description);
                bytes = extended;
                modified = true;
                GreedyOnDevice = true;
            }
            else
            {
                // Logged once per load: every step of this model then reads [B,1,V] (or [B,S,V]) logits on the host.
                InferenceLog.GreedyHeadNotAdded(logger, greedy.Description);
            }
        }

        var label = modified ? $"decoder_model_merged ({(LastPositionOnly ? "last-position prefill" : "as exported")}{(GreedyOnDevice ? ", greedy head" : "")})" : "decoder_model_merged";
        return modified ? factory.Create(bytes, folder.DecoderPath, label) : factory.Create(folder.DecoderPath, label);
    }
}

/// <summary>The host buffers that cross to the provider, allocated once per model and reused by every batch and step.</summary>
internal sealed class HostBuffers(DeviceMemory memory) : IDisposable
{
    public HostBuffer Pixels { get; } = new(memory);

    public HostBuffer Ids { get; } = new(memory);

    public HostBuffer RowImage { get; } = new(memory);

    public HostBuffer PrefixLength { get; } = new(memory);

    public HostBuffer Keep { get; } = new(memory);

    public HostBuffer Tokens { get; } = new(memory);

    public HostBuffer Margins { get; } = new(memory);

    public HostBuffer NumLogitsToKeep { get; } = new(memory);

    public void Dispose()
    {
        foreach (var b in new[] { Pixels, Ids, RowImage, PrefixLength, Keep, Tokens, Margins, NumLogitsToKeep })
        {
            b.Dispose();
        }
    }

    /// <summary>A tensor of <paramref name="type"/> over a host buffer.</summary>
    public static OrtValue View(HostBuffer buffer, TensorElementType type, params long[] shape) => buffer.View(type, shape);
}

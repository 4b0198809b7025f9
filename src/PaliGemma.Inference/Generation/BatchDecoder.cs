using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PaliGemma.Inference.Onnx;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Generation;

/// <summary>What one Generate call shares between its batches: run options (cancellation), counters and statistics.</summary>
internal sealed class GenerationCall(RunOptions runOptions, GenerationStatistics statistics, TransferStatistics transfers)
{
    public RunOptions RunOptions { get; } = runOptions;

    public GenerationStatistics Statistics { get; } = statistics;

    public TransferCounter Counter { get; } = new(transfers);
}

/// <summary>One (image, task) row being generated.</summary>
internal sealed class GenerationRow(int index, int imageIndex, PaliGemmaTask task, int[] prefix, int maxNewTokens)
{
    public int Index { get; } = index;
    public int ImageIndex { get; } = imageIndex;
    public PaliGemmaTask Task { get; } = task;
    public int[] Prefix { get; } = prefix;
    public int MaxNewTokens { get; } = maxNewTokens;
    public List<int> Generated { get; } = new(Math.Min(maxNewTokens, 256));
    public bool StoppedOnEos { get; set; }
    public float MinMargin { get; set; } = float.PositiveInfinity;
    public double Milliseconds { get; set; }
}

/// <summary>
/// The single owner of one batch's generation state: the KV cache, embeddings, positions, mask and chosen tokens
/// (bound where generation state lives: the provider's memory), and the IOBindings of every graph the batch runs.
/// Each step's present outputs become the next step's past inputs without a copy; finished rows leave through the
/// compaction graph on the provider; the next tokens' embeddings are produced there too. Only the chosen token ids
/// (and margins) are read on the host. <see cref="Dispose"/> releases everything, also after a failure midway.
/// </summary>
internal sealed class BatchDecoder : IDisposable
{
    private readonly ModelGraphs _g;
    private readonly GenerationCall _call;
    private readonly IReadOnlyList<GenerationRow> _rows;
    private readonly ISet<int> _eos;
    private readonly MemorySide _state;
    private readonly BoundGraph _embed;
    private readonly BoundGraph _decoder;
    private readonly BoundGraph _compaction;
    private readonly BoundGraph? _advance;
    private readonly BoundGraph? _cast;
    private readonly OrtValue?[] _past;
    private readonly OrtValue?[] _outputs;
    private readonly int[] _active;
    private OrtValue? _embeds;
    private OrtValue? _positions;
    private OrtValue? _mask;
    private OrtValue? _tokens;
    private int _activeCount;
    private int _keepCount;

    public BatchDecoder(ModelGraphs graphs, GenerationCall call, IReadOnlyList<GenerationRow> rows, ISet<int> eos)
    {
        _g = graphs;
        _call = call;
        _rows = rows;
        _eos = eos;
        _state = graphs.Memory.StateSide;
        _past = new OrtValue?[graphs.Contract.PastNames.Length];
        _outputs = new OrtValue?[_past.Length + 5];
        _active = Enumerable.Range(0, rows.Count).ToArray();
        _activeCount = rows.Count;
        var made = new List<BoundGraph>();
        try
        {
            _embed = Bind(graphs.Embed, made);
            _decoder = Bind(graphs.Decoder, made);
            _compaction = Bind(graphs.Compaction, made);
            _advance = graphs.Advance is null ? null : Bind(graphs.Advance, made);
            _cast = graphs.Cast is null ? null : Bind(graphs.Cast, made);
        }
        catch
        {
            made.ForEach(b => b.Dispose());
            throw;
        }
    }

    private GraphContract C => _g.Contract;

    /// <summary>Prefill, then one-token steps until every row has stopped (eos or its limit). Cancellation is honoured between steps.</summary>
    public void Run(int batchIndex, FeatureTable features, CancellationToken ct)
    {
        Prefill(batchIndex, features);
        while (_keepCount > 0)
        {
            ct.ThrowIfCancellationRequested();
            _call.Counter.BeginStep(_keepCount);
            var sw = Stopwatch.StartNew();
            if (_keepCount < _activeCount)
            {
                Compact();
            }

            _call.Statistics.Decode += sw.Elapsed;
            EmbedNextTokens();
            sw.Restart();
            RunDecoder();
            _call.Statistics.Decode += sw.Elapsed;
            _call.Counter.EndStep();
        }
    }

    public void Dispose()
    {
        Release(ref _embeds);
        Release(ref _positions);
        Release(ref _mask);
        Release(ref _tokens);
        for (var i = 0; i < _past.Length; i++)
        {
            Release(ref _past[i]);
        }

        for (var i = 0; i < _outputs.Length; i++)
        {
            Release(ref _outputs[i]);
        }

        _embed.Dispose();
        _decoder.Dispose();
        _compaction.Dispose();
        _advance?.Dispose();
        _cast?.Dispose();
    }

    private BoundGraph Bind(InferenceSession session, List<BoundGraph> made)
    {
        var b = new BoundGraph(session, _g.Memory, _call.Counter);
        made.Add(b);
        return b;
    }

    /// <summary>
    /// Token ids in (left-padded so every row's last real token is in the last column, the only position whose logits
    /// are kept), embeddings and image features merged on the provider, then the prefill decoder call.
    /// </summary>
    private void Prefill(int batchIndex, FeatureTable features)
    {
        var b = _rows.Count;
        var length = _rows.Max(r => r.Prefix.Length);
        _call.Counter.BeginPrefill(batchIndex, b);
        var sw = Stopwatch.StartNew();
        var ids = _g.Host.Ids.Span<long>((long)b * length);
        var rowImage = _g.Host.RowImage.Span<long>(b);
        var prefixLength = _g.Host.PrefixLength.Span<long>(b);
        var pad = _g.PadId;
        for (var r = 0; r < b; r++)
        {
            var row = _rows[r];
            var offset = length - row.Prefix.Length;
            var line = ids.Slice(r * length, length);
            line[..offset].Fill(pad);
            for (var p = 0; p < row.Prefix.Length; p++)
            {
                line[offset + p] = row.Prefix[p];
            }

            rowImage[r] = features.Slot(row.ImageIndex);
            prefixLength[r] = row.Prefix.Length;
        }

        OrtValue? raw = null;
        try
        {
            using (var idsView = _g.Host.Ids.View(TensorElementType.Int64, [b, length]))
            {
                raw = RunEmbed(idsView, MemorySide.Host);
            }

            using var merge = new BoundGraph(_g.Merge, _g.Memory, _call.Counter);
            using var rowImageView = _g.Host.RowImage.View(TensorElementType.Int64, [b]);
            using var prefixView = _g.Host.PrefixLength.View(TensorElementType.Int64, [b]);
            merge.Input(GenerationGraphs.RawEmbeds, raw, _state);
            merge.Input(GenerationGraphs.ImageFeatures, features.Value, _state);
            merge.Input(GenerationGraphs.RowImage, rowImageView, MemorySide.Host);
            merge.Input(GenerationGraphs.PrefixLength, prefixView, MemorySide.Host);
            merge.Output(GenerationGraphs.InputsEmbeds, _state);
            merge.Output(GenerationGraphs.PositionIds, _state);
            if (C.HasAttentionMask)
            {
                merge.Output(GenerationGraphs.AttentionMask, _state);
            }

            merge.Run(_call.RunOptions, _outputs);
            _embeds = Take(0);
            _positions = Take(1);
            _mask = C.HasAttentionMask ? Take(2) : null;
        }
        finally
        {
            raw?.Dispose();
        }

        _call.Statistics.Embed += sw.Elapsed;
        var allocator = _g.Memory.Allocator(_state);
        for (var i = 0; i < _past.Length; i++)
        {
            _past[i] = OrtValue.CreateAllocatedTensorValue(allocator, C.KvType, [b, C.KvHeads, 0, C.HeadDim]);
        }

        if (C.HasNumLogitsToKeep)
        {
            // Bound once: a binding keeps its inputs across runs. One position's logits, at every step.
            _g.Host.NumLogitsToKeep.Span<long>(1)[0] = 1;
            using var keep = _g.Host.NumLogitsToKeep.View(TensorElementType.Int64, []);
            _decoder.Input(GraphContract.NumLogitsToKeep, keep, MemorySide.Host);
        }

        sw.Restart();
        RunDecoder();
        _call.Statistics.Prefill += sw.Elapsed;
    }

    /// <summary>One decoder call over the active rows; presents become the past, and the chosen tokens are read.</summary>
    private void RunDecoder()
    {
        var n = _activeCount;
        _decoder.Input(GraphContract.InputsEmbeds, _embeds!, _state);
        _decoder.Input(GraphContract.PositionIds, _positions!, _state);
        if (_mask is not null)
        {
            _decoder.Input(GraphContract.AttentionMask, _mask, _state);
        }

        for (var i = 0; i < _past.Length; i++)
        {
            _decoder.Input(C.PastNames[i], _past[i]!, _state);
        }

        foreach (var name in C.PresentNames)
        {
            _decoder.Output(name, _state);
        }

        var kv = _past.Length;
        OrtValue? tokenView = null, marginView = null;
        try
        {
            if (_g.GreedyOnDevice)
            {
                tokenView = _g.Host.Tokens.View(TensorElementType.Int64, [n, 1]);
                _decoder.Output(DecoderGraphRewriter.NextToken, _state);
                _decoder.Output(DecoderGraphRewriter.NextTokenHost, tokenView);
                _decoder.Output(GenerationGraphs.NextPositionIds, _state);
                if (C.HasAttentionMask)
                {
                    _decoder.Output(GenerationGraphs.NextAttentionMask, _state);
                }

                if (_g.TrackMargin)
                {
                    marginView = _g.Host.Margins.View(TensorElementType.Float, [n]);
                    _decoder.Output(DecoderGraphRewriter.TopMargin, marginView);
                }
            }
            else
            {
                _decoder.Output(GraphContract.Logits, MemorySide.Host);
            }

            _decoder.Run(_call.RunOptions, _outputs);
        }
        finally
        {
            tokenView?.Dispose();
            marginView?.Dispose();
        }

        Release(ref _embeds);
        for (var i = 0; i < kv; i++)
        {
            Release(ref _past[i]);
            _past[i] = Take(i);
        }

        ReadOnlySpan<long> tokens;
        ReadOnlySpan<float> margins = default;
        if (_g.GreedyOnDevice)
        {
            Replace(ref _tokens, kv);
            Release(ref _outputs[kv + 1]);
            Replace(ref _positions, kv + 2);
            var next = kv + 3;
            if (C.HasAttentionMask)
            {
                Replace(ref _mask, next++);
            }

            if (_g.TrackMargin)
            {
                Release(ref _outputs[next]);
                margins = _g.Host.Margins.Span<float>(n);
            }

            tokens = _g.Host.Tokens.Span<long>(n);
        }
        else
        {
            tokens = ChooseOnHost(kv, n, out margins);
            AdvanceOnProvider();
        }

        UpdateRows(tokens, margins);
    }

    /// <summary>The greedy choice from logits read on the host (graphs the rewrite could not extend).</summary>
    private ReadOnlySpan<long> ChooseOnHost(int logitsIndex, int n, out ReadOnlySpan<float> margins)
    {
        using var logits = Take(logitsIndex)!;
        var shape = logits.GetTensorTypeAndShape().Shape;
        var vocab = checked((int)shape[2]);
        var steps = shape[1];
        var tokens = _g.Host.Tokens.Span<long>(n);
        var margin = _g.Host.Margins.Span<float>(n);
        for (var i = 0; i < n; i++)
        {
            var offset = ((i * steps) + steps - 1) * vocab;
            tokens[i] = TensorOps.ArgMax(logits, C.LogitsType, offset, vocab, _g.TrackMargin, out margin[i]);
        }

        margins = _g.TrackMargin ? margin : default;
        return tokens;
    }

    /// <summary>Next positions and mask from the advance graph (when the decoder could not produce them itself).</summary>
    private void AdvanceOnProvider()
    {
        _advance!.Input(GenerationGraphs.PositionIds, _positions!, _state);
        if (_mask is not null)
        {
            _advance.Input(GenerationGraphs.AttentionMask, _mask, _state);
        }

        _advance.Output(GenerationGraphs.NextPositionIds, _state);
        if (_mask is not null)
        {
            _advance.Output(GenerationGraphs.NextAttentionMask, _state);
        }

        _advance.Run(_call.RunOptions, _outputs);
        Replace(ref _positions, 0);
        if (_mask is not null)
        {
            Replace(ref _mask, 1);
        }
    }

    private void UpdateRows(ReadOnlySpan<long> tokens, ReadOnlySpan<float> margins)
    {
        var keep = _g.Host.Keep.Span<long>(_activeCount);
        _keepCount = 0;
        for (var i = 0; i < _activeCount; i++)
        {
            var row = _rows[_active[i]];
            var token = checked((int)tokens[i]);
            row.Generated.Add(token);
            if (!margins.IsEmpty)
            {
                row.MinMargin = Math.Min(row.MinMargin, margins[i]);
            }

            if (_eos.Contains(token))
            {
                row.StoppedOnEos = true;
            }
            else if (row.Generated.Count < row.MaxNewTokens)
            {
                keep[_keepCount++] = i;
            }
        }

        _call.Statistics.GeneratedTokens += _activeCount;
    }

    /// <summary>Drops finished rows from every state tensor on the provider, so they stop costing attention and concat work.</summary>
    private void Compact()
    {
        var keep = _g.Host.Keep.Span<long>(_keepCount);
        for (var j = 0; j < _keepCount; j++)
        {
            _active[j] = _active[(int)keep[j]];
        }

        using (var keepView = _g.Host.Keep.View(TensorElementType.Int64, [_keepCount]))
        {
            _compaction.Input(GenerationGraphs.Keep, keepView, MemorySide.Host);
        }

        var slot = 0;
        if (_g.GreedyOnDevice)
        {
            _compaction.Input(GenerationGraphs.CompactionInput(slot++), _tokens!, _state);
        }

        _compaction.Input(GenerationGraphs.CompactionInput(slot++), _positions!, _state);
        if (_mask is not null)
        {
            _compaction.Input(GenerationGraphs.CompactionInput(slot++), _mask, _state);
        }

        foreach (var past in _past)
        {
            _compaction.Input(GenerationGraphs.CompactionInput(slot++), past!, _state);
        }

        for (var i = 0; i < slot; i++)
        {
            _compaction.Output(GenerationGraphs.CompactionOutput(i), _state);
        }

        _compaction.Run(_call.RunOptions, _outputs);
        slot = 0;
        if (_g.GreedyOnDevice)
        {
            Replace(ref _tokens, slot++);
        }

        Replace(ref _positions, slot++);
        if (_mask is not null)
        {
            Replace(ref _mask, slot++);
        }

        for (var i = 0; i < _past.Length; i++)
        {
            Replace(ref _past[i], slot++);
        }

        _activeCount = _keepCount;
    }

    /// <summary>Embeds the chosen tokens for the next step: from the device copy of the greedy head, else from the host.</summary>
    private void EmbedNextTokens()
    {
        var sw = Stopwatch.StartNew();
        if (_g.GreedyOnDevice)
        {
            _embeds = ToDecoderType(RunEmbed(_tokens!, _state));
        }
        else
        {
            var ids = _g.Host.Tokens.Span<long>(_activeCount);
            for (var i = 0; i < _activeCount; i++)
            {
                ids[i] = _rows[_active[i]].Generated[^1];
            }

            using var view = _g.Host.Tokens.View(TensorElementType.Int64, [_activeCount, 1]);
            _embeds = ToDecoderType(RunEmbed(view, MemorySide.Host));
        }

        _call.Statistics.Embed += sw.Elapsed;
    }

    private OrtValue RunEmbed(OrtValue ids, MemorySide side)
    {
        _embed.Input(GraphContract.InputIds, ids, side);
        _embed.Output(GraphContract.InputsEmbeds, _state);
        _embed.Run(_call.RunOptions, _outputs);
        return Take(0)!;
    }

    private OrtValue ToDecoderType(OrtValue embeds)
    {
        if (_cast is null)
        {
            return embeds;
        }

        using (embeds)
        {
            _cast.Input("x", embeds, _state);
            _cast.Output("y", _state);
            _cast.Run(_call.RunOptions, _outputs);
            return Take(0)!;
        }
    }

    private OrtValue? Take(int index)
    {
        var value = _outputs[index];
        _outputs[index] = null;
        return value;
    }

    private void Replace(ref OrtValue? slot, int outputIndex)
    {
        slot?.Dispose();
        slot = Take(outputIndex);
    }

    private static void Release(ref OrtValue? value)
    {
        value?.Dispose();
        value = null;
    }
}

using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Masks;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Onnx;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;
using PaliGemma.Inference.Tokenization;

namespace PaliGemma.Inference.Generation;

/// <summary>
/// A loaded PaliGemma model: its sessions on one execution provider, tokenizer and preprocessor, and batched greedy
/// generation with a KV cache that stays in the provider's memory (see <see cref="BatchDecoder"/>).
/// </summary>
/// <remarks>
/// Ownership: this instance owns its sessions and disposes them; it is not finalizable because the sessions
/// carry their own finalizers. <see cref="Generate"/> serialises callers: one batch at a time uses the sessions'
/// intra-op thread pools (or the GPU) fully, and interleaving two would only thrash them.
/// </remarks>
public sealed class PaliGemmaModel : IDisposable
{
    private readonly ModelGraphs _graphs;
    private readonly InferenceOptions _options;
    private readonly HashSet<int> _eos;
    private readonly Lock _gate = new();
    private readonly GenerationStatistics _stats = new();
    private bool _disposed;

    private PaliGemmaModel(ModelFolder folder, PaliGemmaConfig config, GemmaTokenizer tokenizer, ImagePreprocessor preprocessor,
        ModelGraphs graphs, InferenceOptions options, MaskDecoder? maskDecoder)
    {
        MaskDecoder = maskDecoder;
        Folder = folder;
        Config = config;
        Tokenizer = tokenizer;
        Preprocessor = preprocessor;
        _graphs = graphs;
        _options = options;
        _eos = [.. config.EosTokenIds.Count > 0 ? config.EosTokenIds : [tokenizer.EosId]];
    }

    /// <summary>The mask decoder segment answers use (owned by this model), or null: boxes only, with a note.</summary>
    public MaskDecoder? MaskDecoder { get; }

    /// <summary>The model folder and dtype loaded.</summary>
    public ModelFolder Folder { get; }

    /// <summary>What config.json declared.</summary>
    public PaliGemmaConfig Config { get; }

    /// <summary>The model's tokenizer.</summary>
    public GemmaTokenizer Tokenizer { get; }

    /// <summary>Decodes and resizes images to what the vision encoder expects.</summary>
    public ImagePreprocessor Preprocessor { get; }

    /// <summary>"cpu" or "cuda:N".</summary>
    public string Device => _graphs.DeviceName;

    /// <summary>True when prefill returns only the last position's logits (rewritten graph or num_logits_to_keep).</summary>
    public bool PrefillLastPositionOnly => _graphs.LastPositionOnly;

    /// <summary>
    /// True when the decoder returns each step's chosen token ids (the greedy head added at load); false when a graph
    /// the rewrite could not extend has its logits read on the host, or <see cref="InferenceOptions.HostBoundState"/> is set.
    /// </summary>
    public bool GreedyOnDevice => _graphs.GreedyOnDevice;

    /// <summary>True when generation state (KV cache, features, embeddings) stays in the provider's memory.</summary>
    public bool StateOnDevice => _graphs.Memory.StateSide == MemorySide.Device;

    /// <summary>True when the host buffers that cross to the device are pinned (CUDA's pinned allocator).</summary>
    public bool HostBuffersPinned => _graphs.Memory.HostIsPinned;

    /// <summary>True when the decoder declares attention_mask, so rows of unequal prompt length share a batch.</summary>
    public bool SupportsPadding => _graphs.Contract.HasAttentionMask;

    /// <summary>KV cache bytes per row and position (keys and values of every layer, at the graph boundary's element type).</summary>
    public long KvBytesPerPosition => 2L * Config.NumLayers * Config.NumKeyValueHeads * Config.HeadDim * TensorOps.ElementSize(_graphs.Contract.KvType);

    /// <summary>Image tokens per image (N).</summary>
    public int ImageTokens => Preprocessor.Config.ImageSeqLength;

    /// <summary>Counters since load.</summary>
    public GenerationStatistics Statistics
    {
        get
        {
            lock (_gate)
            {
                return _stats.Snapshot();
            }
        }
    }

    /// <summary>
    /// Loads a model folder. Every dimension comes from the folder's files and the graphs' metadata; a missing or
    /// inconsistent file raises <see cref="ModelFormatException"/> naming it.
    /// </summary>
    public static PaliGemmaModel Load(string modelDirectory, InferenceOptions options, ILogger? logger = null, ImageDecodeLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        logger ??= NullLogger.Instance;
        var folder = ModelFolder.Open(modelDirectory, options.ParsedDtype);
        var config = PaliGemmaConfig.Load(folder);
        var imageConfig = ImageProcessorConfig.FromFile(folder.PreprocessorConfigPath);
        if (config.NumImageTokens is { } declared && declared != imageConfig.ImageSeqLength)
        {
            throw new ModelFormatException(folder.PreprocessorConfigPath,
                $"image_seq_length is {imageConfig.ImageSeqLength} but config.json vision_config.num_image_tokens is {declared}.");
        }

        var tokenizer = GemmaTokenizer.FromFile(folder.TokenizerPath);
        if (tokenizer.GetToken(config.ImageTokenId) is not "<image>")
        {
            throw new ModelFormatException(folder.ConfigPath,
                $"image_token_index {config.ImageTokenId} is '{tokenizer.GetToken(config.ImageTokenId) ?? "not in the vocabulary"}' in tokenizer.json, expected '<image>'.");
        }

        var factory = new SessionFactory(options, logger);
        MaskDecoder? masks = null;
        ModelGraphs? graphs = null;
        try
        {
            masks = string.IsNullOrWhiteSpace(options.MaskDecoderPath) ? null : MaskDecoder.Load(options.MaskDecoderPath, factory, logger);
            graphs = ModelGraphs.Load(folder, config, imageConfig, options, factory, tokenizer.PadId, logger);
            var model = new PaliGemmaModel(folder, config, tokenizer, new ImagePreprocessor(imageConfig, limits), graphs, options, masks);
            InferenceLog.ModelReady(logger, folder.Directory, config.NumLayers, config.NumKeyValueHeads, config.HeadDim, config.HiddenSize,
                imageConfig.Height, imageConfig.Width, imageConfig.ImageSeqLength, tokenizer.VocabularySize, factory.DeviceName);
            return model;
        }
        catch
        {
            graphs?.Dispose();
            masks?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds the token ids the model sees for a prompt: N image tokens, bos, the prompt and a newline, exactly as
    /// PaliGemmaProcessor builds "&lt;image&gt;"*N + "&lt;bos&gt;" + prompt + "\n".
    /// </summary>
    public int[] BuildPrefix(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        // Added tokens split the text atomically, so encoding "<bos>" + prompt + "\n" and prepending the image ids
        // gives the same ids as encoding the whole processor string, without scanning N image tokens.
        var body = Tokenizer.Encode("<bos>" + prompt + "\n");
        var prefix = new int[ImageTokens + body.Length];
        prefix.AsSpan(0, ImageTokens).Fill(Config.ImageTokenId);
        body.CopyTo(prefix, ImageTokens);
        if (Array.IndexOf(body, Config.ImageTokenId) >= 0)
        {
            throw new ArgumentException($"The prompt '{prompt}' contains the image token '<image>', which is reserved for image features.", nameof(prompt));
        }

        return prefix;
    }

    /// <summary>
    /// Runs every request against its image. Images are encoded once each and their features reused by every
    /// request that names them. Rows are batched by equal prefix length (or padded together when the decoder
    /// declares attention_mask), finished rows leave the batch, and results come back in request order, with this
    /// call's own statistics and host/device transfer counts.
    /// </summary>
    /// <exception cref="DeviceOutOfMemoryException">The provider could not allocate what a batch needs.</exception>
    public GenerationResult Generate(IReadOnlyList<PreprocessedImage> images, IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(requests);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rows = new GenerationRow[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            rows[i] = PrepareRow(i, requests[i], images.Count);
        }

        var statistics = new GenerationStatistics();
        var transfers = new TransferStatistics();
        if (rows.Length > 0)
        {
            lock (_gate)
            {
                var wall = Stopwatch.StartNew();
                Run(images, rows, statistics, transfers, cancellationToken);
                statistics.Wall = wall.Elapsed;
                statistics.Rows = rows.Length;
                _stats.Add(statistics);
            }
        }

        var outputs = new GenerationOutput[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            outputs[i] = Finish(rows[i], images[rows[i].ImageIndex]);
        }

        return new GenerationResult(MaskDecoder is null ? outputs : AddMasks(outputs, requests, images, cancellationToken), statistics, transfers);
    }

    private void Run(IReadOnlyList<PreprocessedImage> images, GenerationRow[] rows, GenerationStatistics statistics, TransferStatistics transfers, CancellationToken ct)
    {
        using var runOptions = new RunOptions();
        using var registration = ct.Register(() => runOptions.Terminate = true);
        var call = new GenerationCall(runOptions, statistics, transfers);
        var failing = new FailingBatch("the vision encoder", Math.Min(rows.Length, _options.MaxBatchSize), rows.Max(r => r.Prefix.Length + r.MaxNewTokens));
        try
        {
            RunBatches(images, rows, call, failing, ct);
        }
        catch (OnnxRuntimeException) when (ct.IsCancellationRequested)
        {
            throw new OperationCanceledException("Generation was cancelled.", ct);
        }
        catch (OnnxRuntimeException ex) when (DeviceOutOfMemoryException.IsOutOfMemory(ex))
        {
            throw new DeviceOutOfMemoryException(Device, failing.Stage, failing.Rows, failing.Positions, KvBytesPerPosition, ex);
        }
    }

    /// <summary>Which stage and batch shape were running, for the out-of-memory message.</summary>
    private sealed class FailingBatch(string stage, int rows, int positions)
    {
        public string Stage { get; set; } = stage;
        public int Rows { get; set; } = rows;
        public int Positions { get; set; } = positions;
    }

    private void RunBatches(IReadOnlyList<PreprocessedImage> images, GenerationRow[] rows, GenerationCall call, FailingBatch failing, CancellationToken ct)
    {
        using var features = FeatureTable.Encode(_graphs, call, images, rows.Select(r => r.ImageIndex), _options.MaxBatchSize,
            Preprocessor.Height, Preprocessor.Width, Folder.VisionEncoderPath, ct);
        var index = 0;
        foreach (var batch in PlanBatches(rows))
        {
            ct.ThrowIfCancellationRequested();
            failing.Stage = "prefill and decoding";
            failing.Rows = batch.Count;
            failing.Positions = batch.Max(r => r.Prefix.Length + r.MaxNewTokens);
            var sw = Stopwatch.StartNew();
            RunBatch(batch, index++, features, call, ct);
            call.Statistics.Batches++;
            var share = sw.Elapsed.TotalMilliseconds / batch.Count;
            foreach (var row in batch)
            {
                row.Milliseconds = share + (features.VisionMs[row.ImageIndex] / batch.Count(r => r.ImageIndex == row.ImageIndex));
            }
        }
    }

    private void RunBatch(List<GenerationRow> batch, int index, FeatureTable features, GenerationCall call, CancellationToken ct)
    {
        using var decoder = new BatchDecoder(_graphs, call, batch, _eos);
        decoder.Run(index, features, ct);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _graphs.Dispose();
        MaskDecoder?.Dispose();
    }

    /// <summary>Decodes every segment object of the call in shared batches and places each mask into its box.</summary>
    private GenerationOutput[] AddMasks(GenerationOutput[] outputs, IReadOnlyList<GenerationRequest> requests, IReadOnlyList<PreprocessedImage> images, CancellationToken ct)
    {
        var segment = Enumerable.Range(0, outputs.Length).Where(i => requests[i].Task.Kind == TaskKind.Segment && outputs[i].Boxes.Count > 0).ToList();
        if (segment.Count == 0)
        {
            return outputs;
        }

        var targets = segment.Select(i => new MaskTarget(outputs[i].Boxes, images[requests[i].ImageIndex].OriginalWidth, images[requests[i].ImageIndex].OriginalHeight)).ToList();
        IReadOnlyList<IReadOnlyList<DetectedObject>> placed;
        lock (_gate)
        {
            placed = MaskDecoder!.AddMasks(targets, ct);
        }

        for (var k = 0; k < segment.Count; k++)
        {
            outputs[segment[k]] = outputs[segment[k]] with { Boxes = placed[k] };
        }

        return outputs;
    }

    private GenerationRow PrepareRow(int index, GenerationRequest request, int imageCount)
    {
        if ((uint)request.ImageIndex >= (uint)imageCount)
        {
            throw new ArgumentOutOfRangeException(nameof(request), $"Request {index} names image {request.ImageIndex}, but {imageCount} images were given.");
        }

        var maxNew = request.MaxNewTokens ?? request.Task.DefaultMaxNewTokens;
        if (TaskValidation.LimitProblem(maxNew) is { } limitProblem)
        {
            throw new ArgumentOutOfRangeException(nameof(request), $"Request {index}: {limitProblem}.");
        }

        var prefix = BuildPrefix(request.Task.Prompt);
        if (TaskValidation.FitProblem(request.Task.Prompt, prefix.Length, maxNew, Config.MaxPositionEmbeddings) is { } fitProblem)
        {
            throw new ArgumentException(fitProblem, nameof(request));
        }

        return new GenerationRow(index, request.ImageIndex, request.Task, prefix, maxNew);
    }

    private IEnumerable<List<GenerationRow>> PlanBatches(GenerationRow[] rows)
    {
        var max = _options.MaxBatchSize;
        if (_graphs.Contract.HasAttentionMask)
        {
            // Sorting by length keeps padding (wasted prefill compute) small inside each padded batch.
            var ordered = rows.OrderBy(r => r.Prefix.Length).ThenBy(r => r.Index).ToList();
            for (var i = 0; i < ordered.Count; i += max)
            {
                yield return ordered.GetRange(i, Math.Min(max, ordered.Count - i));
            }

            yield break;
        }

        // Without attention_mask every row of a call must have the same prefix length: padding would be attended.
        foreach (var group in rows.GroupBy(r => r.Prefix.Length).OrderBy(g => g.Key))
        {
            var list = group.ToList();
            for (var i = 0; i < list.Count; i += max)
            {
                yield return list.GetRange(i, Math.Min(max, list.Count - i));
            }
        }
    }

    private GenerationOutput Finish(GenerationRow row, PreprocessedImage image)
    {
        var ids = row.Generated.ToArray();
        var text = Tokenizer.Decode(ids, skipSpecialTokens: true);
        var parsed = row.Task.ProducesBoxes
            ? LocationParser.ParseWithReport(text, image.OriginalWidth, image.OriginalHeight, row.Task.Kind)
            : new LocationParseResult([], []);
        var boxes = parsed.Objects;
        var note = Note(row.Task.Kind == TaskKind.Segment && MaskDecoder is null, parsed.Rejected);
        return new GenerationOutput
        {
            TokenIds = ids,
            Text = text,
            Boxes = boxes,
            PromptTokens = row.Prefix.Length,
            StoppedOnEos = row.StoppedOnEos,
            Milliseconds = row.Milliseconds,
            Note = note,
            RejectedObjects = parsed.Rejected,
            MinTopMargin = _options.TrackTopMargin ? row.MinMargin : null,
        };
    }

    /// <summary>The row's note: masks unavailable and/or which entries were malformed; null when there is nothing to say.</summary>
    private static string? Note(bool masksUnavailable, IReadOnlyList<RejectedEntry> rejected)
    {
        var parts = new List<string>(2);
        if (masksUnavailable)
        {
            parts.Add(MaskDecoder.MissingDecoderNote);
        }

        if (rejected.Count > 0)
        {
            parts.Add($"Skipped {rejected.Count} malformed object(s): " + string.Join("; ", rejected.Select(r =>
                $"#{r.Index + 1} '{(r.Text.Length <= 80 ? r.Text : r.Text[..80] + "...")}' ({r.Reason})")) + ".");
        }

        return parts.Count == 0 ? null : string.Join(" ", parts);
    }
}

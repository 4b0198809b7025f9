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
/// A loaded PaliGemma model: the three ONNX sessions, tokenizer and preprocessor, and batched greedy generation
/// with a KV cache (DESIGN §4.2–4.3).
/// </summary>
/// <remarks>
/// Ownership: this instance owns its sessions and disposes them; it is not finalizable because the sessions
/// carry their own finalizers. <see cref="Generate"/> serialises callers: one batch at a time uses the sessions'
/// intra-op thread pools fully, and interleaving two would only thrash them.
/// </remarks>
public sealed class PaliGemmaModel : IDisposable
{
    private readonly InferenceSession _vision;
    private readonly InferenceSession _embed;
    private readonly InferenceSession _decoder;
    private readonly GraphContract _contract;
    private readonly InferenceOptions _options;
    private readonly HashSet<int> _eos;
    private readonly Lock _gate = new();
    private readonly GenerationStatistics _stats = new();
    private bool _disposed;

    private PaliGemmaModel(ModelFolder folder, PaliGemmaConfig config, GemmaTokenizer tokenizer, ImagePreprocessor preprocessor,
        InferenceSession vision, InferenceSession embed, InferenceSession decoder, GraphContract contract, InferenceOptions options,
        string device, bool prefillLastOnly, MaskDecoder? maskDecoder)
    {
        MaskDecoder = maskDecoder;
        Folder = folder;
        Config = config;
        Tokenizer = tokenizer;
        Preprocessor = preprocessor;
        _vision = vision;
        _embed = embed;
        _decoder = decoder;
        _contract = contract;
        _options = options;
        Device = device;
        PrefillLastPositionOnly = prefillLastOnly;
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
    public string Device { get; }

    /// <summary>True when prefill returns only the last position's logits (rewritten graph or num_logits_to_keep).</summary>
    public bool PrefillLastPositionOnly { get; }

    /// <summary>True when the decoder declares attention_mask, so rows of unequal prompt length share a batch.</summary>
    public bool SupportsPadding => _contract.HasAttentionMask;

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
        InferenceSession? vision = null, embed = null, decoder = null;
        MaskDecoder? masks = null;
        try
        {
            masks = string.IsNullOrWhiteSpace(options.MaskDecoderPath) ? null : MaskDecoder.Load(options.MaskDecoderPath, factory, logger);
            vision = factory.Create(folder.VisionEncoderPath, "vision_encoder");
            embed = factory.Create(folder.EmbedTokensPath, "embed_tokens");
            (decoder, var rewriteNote) = CreateDecoder(folder, options, factory, logger);
            var contract = GraphContract.Validate(folder, config, vision, embed, decoder, imageConfig.Height, imageConfig.Width, imageConfig.ImageSeqLength);
            var lastOnly = contract.HasNumLogitsToKeep || rewriteNote is not null;
            var model = new PaliGemmaModel(folder, config, tokenizer, new ImagePreprocessor(imageConfig, limits), vision, embed, decoder, contract,
                options, factory.DeviceName, lastOnly, masks);
            InferenceLog.ModelReady(logger, folder.Directory, config.NumLayers, config.NumKeyValueHeads, config.HeadDim, config.HiddenSize,
                imageConfig.Height, imageConfig.Width, imageConfig.ImageSeqLength, tokenizer.VocabularySize, factory.DeviceName);
            return model;
        }
        catch
        {
            vision?.Dispose();
            embed?.Dispose();
            decoder?.Dispose();
            masks?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates the decoder session once: from the rewritten graph when the last-position rewrite applies, else from
    /// the file. A decoder declaring num_logits_to_keep needs no rewrite; it is told to keep one position instead.
    /// </summary>
    private static (InferenceSession Decoder, string? RewriteNote) CreateDecoder(ModelFolder folder, InferenceOptions options, SessionFactory factory, ILogger logger)
    {
        if (!options.RewriteDecoder)
        {
            return (factory.Create(folder.DecoderPath, "decoder_model_merged"), null);
        }

        var bytes = File.ReadAllBytes(folder.DecoderPath);
        if (OnnxModelInfo.Read(bytes).Inputs.Contains(GraphContract.NumLogitsToKeep))
        {
            return (factory.Create(folder.DecoderPath, "decoder_model_merged"), null);
        }

        var rewrite = DecoderGraphRewriter.TrySliceLastPosition(bytes);
        if (rewrite is { Rewritten: true, Model: { } rewritten })
        {
            InferenceLog.DecoderRewritten(logger, rewrite.Description);
            return (factory.Create(rewritten, folder.DecoderPath, "decoder_model_merged (last-position prefill)"), rewrite.Description);
        }

        InferenceLog.DecoderNotRewritten(logger, rewrite.Description);
        return (factory.Create(folder.DecoderPath, "decoder_model_merged"), null);
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
    /// declares attention_mask), finished rows leave the batch, and results come back in request order.
    /// </summary>
    public IReadOnlyList<GenerationOutput> Generate(IReadOnlyList<PreprocessedImage> images, IReadOnlyList<GenerationRequest> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(requests);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rows = new Row[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            rows[i] = PrepareRow(i, requests[i], images.Count);
        }

        lock (_gate)
        {
            var wall = Stopwatch.StartNew();
            using var runOptions = new RunOptions();
            using var registration = cancellationToken.Register(() => runOptions.Terminate = true);
            try
            {
                var features = EncodeImages(images, rows, runOptions, cancellationToken);
                foreach (var batch in PlanBatches(rows))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    RunBatch(batch, features, runOptions, cancellationToken);
                }
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("Generation was cancelled.", cancellationToken);
            }

            _stats.Wall += wall.Elapsed;
            _stats.Rows += rows.Length;
        }

        var outputs = new GenerationOutput[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            outputs[i] = Finish(rows[i], images[rows[i].ImageIndex]);
        }

        return MaskDecoder is null ? outputs : AddMasks(outputs, requests, images, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _vision.Dispose();
        _embed.Dispose();
        _decoder.Dispose();
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

    private Row PrepareRow(int index, GenerationRequest request, int imageCount)
    {
        if ((uint)request.ImageIndex >= (uint)imageCount)
        {
            throw new ArgumentOutOfRangeException(nameof(request), $"Request {index} names image {request.ImageIndex}, but {imageCount} images were given.");
        }

        var maxNew = request.MaxNewTokens ?? request.Task.DefaultMaxNewTokens;
        if (maxNew < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(request), $"max_new_tokens must be at least 1 (request {index}: {maxNew}).");
        }

        var prefix = BuildPrefix(request.Task.Prompt);
        if (Config.MaxPositionEmbeddings is { } limit && prefix.Length + maxNew > limit)
        {
            throw new ArgumentException(
                $"Prompt '{request.Task.Prompt}' needs {prefix.Length} prefix tokens + {maxNew} new tokens, more than the model's {limit} positions (config.json text_config.max_position_embeddings).",
                nameof(request));
        }

        return new Row(index, request.ImageIndex, request.Task, prefix, maxNew);
    }

    private IEnumerable<List<Row>> PlanBatches(Row[] rows)
    {
        var max = _options.MaxBatchSize;
        if (_contract.HasAttentionMask)
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

    private Dictionary<int, ImageFeatures> EncodeImages(IReadOnlyList<PreprocessedImage> images, Row[] rows, RunOptions runOptions, CancellationToken ct)
    {
        var needed = rows.Select(r => r.ImageIndex).Distinct().Order().ToList();
        var result = new Dictionary<int, ImageFeatures>(needed.Count);
        var pixelCount = Preprocessor.PixelValueCount;
        var pixelSize = TensorOps.ElementSize(_contract.PixelType);
        var featureSize = TensorOps.ElementSize(_contract.FeatureType);
        for (var start = 0; start < needed.Count; start += _options.MaxBatchSize)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = needed.GetRange(start, Math.Min(_options.MaxBatchSize, needed.Count - start));
            using var pixels = TensorOps.Allocate(_contract.PixelType, [chunk.Count, 3, Preprocessor.Height, Preprocessor.Width]);
            var dst = pixels.GetTensorMutableRawData();
            for (var i = 0; i < chunk.Count; i++)
            {
                var src = images[chunk[i]].PixelValues;
                if (src.Length != pixelCount)
                {
                    throw new ArgumentException($"Image {chunk[i]} has {src.Length} pixel values; this model expects {pixelCount} (3x{Preprocessor.Height}x{Preprocessor.Width}).", nameof(images));
                }

                TensorOps.CopyConvert(System.Runtime.InteropServices.MemoryMarshal.AsBytes(src.AsSpan()), TensorElementType.Float,
                    dst.Slice(i * pixelCount * pixelSize), _contract.PixelType, pixelCount);
            }

            var sw = Stopwatch.StartNew();
            using var outputs = _vision.Run(runOptions, [GraphContract.PixelValues], [pixels], [GraphContract.ImageFeatures]);
            _stats.Vision += sw.Elapsed;
            var visionMs = sw.Elapsed.TotalMilliseconds / chunk.Count;
            var shape = outputs[0].GetTensorTypeAndShape().Shape;
            if (shape[1] != ImageTokens || shape[2] != Config.HiddenSize)
            {
                throw new ModelFormatException(Folder.VisionEncoderPath, $"produced image_features [{string.Join(",", shape)}], expected [B,{ImageTokens},{Config.HiddenSize}].");
            }

            var perImage = checked((int)(shape[1] * shape[2] * featureSize));
            var raw = outputs[0].GetTensorMutableRawData();
            for (var i = 0; i < chunk.Count; i++)
            {
                result[chunk[i]] = new ImageFeatures(raw.Slice(i * perImage, perImage).ToArray(), visionMs);
            }

            _stats.Images += chunk.Count;
        }

        return result;
    }

    private void RunBatch(List<Row> batch, Dictionary<int, ImageFeatures> features, RunOptions runOptions, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var b = batch.Count;
        var length = batch.Max(r => r.Prefix.Length);
        var hidden = Config.HiddenSize;
        var pad = Tokenizer.PadId;

        // Prefill inputs: left padding keeps every row's last real token in the last column, which is the only
        // position whose logits are kept.
        var ids = new long[b * length];
        var positions = new long[b * length];
        var mask = _contract.HasAttentionMask ? new long[b * length] : null;
        for (var r = 0; r < b; r++)
        {
            var row = batch[r];
            var offset = length - row.Prefix.Length;
            for (var p = 0; p < length; p++)
            {
                var real = p >= offset;
                ids[(r * length) + p] = real ? row.Prefix[p - offset] : pad;
                // 1-based positions over real tokens; padding gets 1, as transformers.js's cumsum_masked_fill does.
                positions[(r * length) + p] = real ? p - offset + 1 : 1;
                if (mask is not null)
                {
                    mask[(r * length) + p] = real ? 1 : 0;
                }
            }
        }

        var embeds = Embed(ids, b, length, runOptions);
        try
        {
            MergeImageFeatures(embeds.Value, batch, ids, length, hidden, features);
        }
        catch
        {
            embeds.Dispose();
            throw;
        }

        var kvShape = new long[] { b, Config.NumKeyValueHeads, 0, Config.HeadDim };
        var past = new OrtValue[_contract.PastNames.Length];
        for (var i = 0; i < past.Length; i++)
        {
            past[i] = TensorOps.Allocate(_contract.KvType, kvShape);
        }

        var active = Enumerable.Range(0, b).ToList();
        var pastLength = 0;
        var step = 0;
        IDisposableReadOnlyCollection<OrtValue>? previous = null;
        OrtValue[]? compacted = null;
        var inputs = embeds;
        try
        {
            var stepPositions = positions;
            var stepMask = mask;
            var seq = length;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var stepSw = Stopwatch.StartNew();
                var outputs = RunDecoder(inputs.Value, stepPositions, stepMask, past, active.Count, seq, pastLength, runOptions);
                if (step == 0)
                {
                    _stats.Prefill += stepSw.Elapsed;
                }
                else
                {
                    _stats.Decode += stepSw.Elapsed;
                }

                inputs.Dispose();
                previous?.Dispose();
                previous = outputs;
                if (compacted is not null)
                {
                    foreach (var v in compacted)
                    {
                        v.Dispose();
                    }

                    compacted = null;
                }
                else if (step == 0)
                {
                    foreach (var v in past)
                    {
                        v.Dispose();
                    }
                }

                pastLength += seq;
                var logits = outputs[0];
                var logitsShape = logits.GetTensorTypeAndShape().Shape;
                var vocab = checked((int)logitsShape[2]);
                var stepLength = logitsShape[1];
                var stillActive = new List<int>(active.Count);
                for (var i = 0; i < active.Count; i++)
                {
                    var row = batch[active[i]];
                    var offset = ((i * stepLength) + stepLength - 1) * vocab;
                    var token = TensorOps.ArgMax(logits, _contract.LogitsType, offset, vocab, _options.TrackTopMargin, out var margin);
                    row.Generated.Add(token);
                    if (_options.TrackTopMargin)
                    {
                        row.MinMargin = Math.Min(row.MinMargin, margin);
                    }

                    if (_eos.Contains(token))
                    {
                        row.StoppedOnEos = true;
                    }
                    else if (row.Generated.Count < row.MaxNewTokens)
                    {
                        stillActive.Add(i);
                    }
                }

                step++;
                _stats.GeneratedTokens += active.Count;
                if (stillActive.Count == 0)
                {
                    break;
                }

                // Present KV becomes the next step's past. When rows finished, copy out only the live rows so the
                // finished ones stop costing attention and concat work in every later step.
                var presents = new OrtValue[_contract.PresentNames.Length];
                if (stillActive.Count < active.Count)
                {
                    for (var i = 0; i < presents.Length; i++)
                    {
                        presents[i] = TensorOps.SelectRows(outputs[i + 1], stillActive);
                    }

                    compacted = presents;
                    if (stepMask is not null)
                    {
                        var width = pastLength;
                        var newMask = new long[stillActive.Count * width];
                        for (var i = 0; i < stillActive.Count; i++)
                        {
                            Array.Copy(stepMask, stillActive[i] * width, newMask, i * width, width);
                        }

                        stepMask = newMask;
                    }
                }
                else
                {
                    for (var i = 0; i < presents.Length; i++)
                    {
                        presents[i] = outputs[i + 1];
                    }
                }

                active = stillActive.Select(i => active[i]).ToList();
                past = presents;
                var nextIds = new long[active.Count];
                stepPositions = new long[active.Count];
                for (var i = 0; i < active.Count; i++)
                {
                    var row = batch[active[i]];
                    nextIds[i] = row.Generated[^1];
                    // The prompt occupies positions 1..len; the k-th generated token is fed at len + k.
                    stepPositions[i] = row.Prefix.Length + row.Generated.Count;
                }

                if (stepMask is not null)
                {
                    var width = pastLength + 1;
                    var grown = new long[active.Count * width];
                    for (var i = 0; i < active.Count; i++)
                    {
                        Array.Copy(stepMask, i * pastLength, grown, i * width, pastLength);
                        grown[(i * width) + pastLength] = 1;
                    }

                    stepMask = grown;
                }

                seq = 1;
                inputs = Embed(nextIds, active.Count, 1, runOptions);
            }
        }
        finally
        {
            // Disposing twice is harmless for OrtValue and the Run collections; this only matters on failure.
            inputs.Dispose();
            if (compacted is not null)
            {
                foreach (var v in compacted)
                {
                    v.Dispose();
                }
            }

            if (previous is null)
            {
                foreach (var v in past)
                {
                    v.Dispose();
                }
            }

            previous?.Dispose();
        }

        _stats.Batches++;
        var share = sw.Elapsed.TotalMilliseconds / b;
        foreach (var row in batch)
        {
            row.Milliseconds = share + (features[row.ImageIndex].VisionMs / batch.Count(r => r.ImageIndex == row.ImageIndex));
        }
    }

    private EmbedOutput Embed(long[] ids, int rows, int length, RunOptions runOptions)
    {
        var sw = Stopwatch.StartNew();
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [rows, length]);
        var outputs = _embed.Run(runOptions, [GraphContract.InputIds], [idsValue], [GraphContract.InputsEmbeds]);
        _stats.Embed += sw.Elapsed;
        if (_contract.EmbedType == _contract.DecoderEmbedType)
        {
            return new EmbedOutput(outputs[0], outputs);
        }

        // Mixed-precision exports: convert once here so the decoder gets the element type it declares.
        using (outputs)
        {
            var converted = TensorOps.Allocate(_contract.DecoderEmbedType, [rows, length, Config.HiddenSize]);
            TensorOps.CopyConvert(outputs[0].GetTensorMutableRawData(), _contract.EmbedType, converted.GetTensorMutableRawData(), _contract.DecoderEmbedType,
                rows * length * Config.HiddenSize);
            return new EmbedOutput(converted, converted);
        }
    }

    /// <summary>An embeddings tensor and whatever owns its memory (the Run output collection or the tensor itself).</summary>
    private sealed record EmbedOutput(OrtValue Value, IDisposable Owner) : IDisposable
    {
        public void Dispose() => Owner.Dispose();
    }

    private void MergeImageFeatures(OrtValue embeds, List<Row> batch, long[] ids, int length, int hidden, Dictionary<int, ImageFeatures> features)
    {
        var dst = embeds.GetTensorMutableRawData();
        var elem = TensorOps.ElementSize(_contract.DecoderEmbedType);
        var featureElem = TensorOps.ElementSize(_contract.FeatureType);
        for (var r = 0; r < batch.Count; r++)
        {
            var feature = features[batch[r].ImageIndex].Data;
            var k = 0;
            for (var p = 0; p < length; p++)
            {
                if (ids[(r * length) + p] != Config.ImageTokenId)
                {
                    continue;
                }

                // The k-th image token of a row takes the k-th feature vector of that row's image.
                TensorOps.CopyConvert(feature.AsSpan(k * hidden * featureElem, hidden * featureElem), _contract.FeatureType,
                    dst.Slice(((r * length) + p) * hidden * elem, hidden * elem), _contract.DecoderEmbedType, hidden);
                k++;
            }

            if (k != ImageTokens)
            {
                throw new InvalidOperationException($"Row {batch[r].Index} has {k} image tokens, expected {ImageTokens}.");
            }
        }
    }

    private IDisposableReadOnlyCollection<OrtValue> RunDecoder(OrtValue embeds, long[] positions, long[]? mask, OrtValue[] past, int rows, int seq, int pastLength, RunOptions runOptions)
    {
        var names = new List<string>(past.Length + 4) { GraphContract.InputsEmbeds, GraphContract.PositionIds };
        using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, [rows, seq]);
        var values = new List<OrtValue>(past.Length + 4) { embeds, positionValue };
        OrtValue? maskValue = null;
        OrtValue? keepValue = null;
        try
        {
            if (mask is not null)
            {
                maskValue = OrtValue.CreateTensorValueFromMemory(mask, [rows, pastLength + seq]);
                names.Add(GraphContract.AttentionMask);
                values.Add(maskValue);
            }

            if (_contract.HasNumLogitsToKeep)
            {
                keepValue = OrtValue.CreateTensorValueFromMemory(new long[] { 1 }, []);
                names.Add(GraphContract.NumLogitsToKeep);
                values.Add(keepValue);
            }

            names.AddRange(_contract.PastNames);
            values.AddRange(past);
            var outputNames = new List<string>(1 + _contract.PresentNames.Length) { GraphContract.Logits };
            outputNames.AddRange(_contract.PresentNames);
            return _decoder.Run(runOptions, names, values, outputNames);
        }
        finally
        {
            maskValue?.Dispose();
            keepValue?.Dispose();
        }
    }

    private GenerationOutput Finish(Row row, PreprocessedImage image)
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

    private sealed record ImageFeatures(byte[] Data, double VisionMs);

    private sealed class Row(int index, int imageIndex, PaliGemmaTask task, int[] prefix, int maxNewTokens)
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
}

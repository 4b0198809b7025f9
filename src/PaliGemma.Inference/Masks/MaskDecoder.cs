using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Masks;

/// <summary>
/// big_vision's PaliGemma VQ-VAE mask decoder as an ONNX graph made by <c>tools/convert_vae_oid.py</c>: sixteen
/// <c>&lt;segNNN&gt;</c> codes per object in, an S x S (64 x 64) grid of mask logits out.
/// </summary>
/// <remarks>
/// Ownership: this instance owns its session and disposes it. The file is only read: it is given by path
/// (<c>--mask-decoder</c>, <c>Inference:MaskDecoderPath</c>) and never written into a model folder, which may be a
/// shared, read-only Hub cache snapshot. Calls are serialised by the caller (<see cref="Generation.PaliGemmaModel"/>
/// holds its lock); standalone use from several threads is safe because ONNX Runtime sessions allow concurrent Run.
/// </remarks>
public sealed class MaskDecoder : IDisposable
{
    /// <summary>Graph input: int64 [B, 16].</summary>
    public const string InputName = "seg_indices";

    /// <summary>Graph output: float [B, S, S].</summary>
    public const string OutputName = "masks";

    /// <summary>Largest batch sent in one Run; bounds the activations (128 channels at 64 x 64 is 2 MB per object).</summary>
    public const int MaxBatchSize = 64;

    /// <summary>The command that builds the decoder, for messages that tell the user how to get masks.</summary>
    public const string BuildCommand = "/usr/bin/python3 tools/convert_vae_oid.py vae-oid.npz vae_decoder.onnx";

    /// <summary>The note a segment answer carries when no decoder is configured.</summary>
    public const string MissingDecoderNote =
        "Segmentation masks need the VQ-VAE mask decoder; boxes only. Build it with '" + BuildCommand +
        "' (vae-oid.npz: see the README's Segmentation section) and pass --mask-decoder vae_decoder.onnx, or set Inference:MaskDecoderPath.";

    private readonly InferenceSession _session;
    private bool _disposed;

    private MaskDecoder(string path, InferenceSession session, int maskSize, int codebookSize)
    {
        Path = path;
        _session = session;
        MaskSize = maskSize;
        CodebookSize = codebookSize;
    }

    /// <summary>The decoder file.</summary>
    public string Path { get; }

    /// <summary>Side S of the decoded mask grid (64 for vae-oid).</summary>
    public int MaskSize { get; }

    /// <summary>Number of codebook entries; codes must be below it (128 for vae-oid).</summary>
    public int CodebookSize { get; }

    /// <summary>Loads and checks a decoder graph.</summary>
    /// <param name="path">vae_decoder.onnx.</param>
    /// <param name="options">Device and threading; null uses defaults (auto device).</param>
    /// <param name="logger">Receives load messages.</param>
    /// <returns>The decoder.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ModelFormatException">The graph does not have the input and output described above.</exception>
    public static MaskDecoder Load(string path, InferenceOptions? options = null, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        return Load(path, new SessionFactory(options ?? new InferenceOptions(), logger), logger);
    }

    internal static MaskDecoder Load(string path, SessionFactory factory, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"Mask decoder '{full}' not found. Build it with '{BuildCommand}'.", full);
        }

        InferenceSession session = factory.Create(full, "vae_decoder");
        try
        {
            (int maskSize, int codebookSize) = Validate(full, session);
            InferenceLog.MaskDecoderReady(logger, full, codebookSize, maskSize);
            return new MaskDecoder(full, session, maskSize, codebookSize);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>Decodes code rows into mask logits.</summary>
    /// <param name="codes">Sixteen codes per object.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>codes.Count x S x S logits, object-major then row-major.</returns>
    /// <exception cref="ArgumentException">A row does not hold sixteen codes below <see cref="CodebookSize"/>.</exception>
    public float[] DecodeLogits(IReadOnlyList<IReadOnlyList<int>> codes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(codes);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int area = MaskSize * MaskSize;
        var result = new float[codes.Count * area];
        using var runOptions = new RunOptions();
        for (int start = 0; start < codes.Count; start += MaxBatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(MaxBatchSize, codes.Count - start);
            var input = new long[n * LocationParser.SegmentTokensPerObject];
            for (int i = 0; i < n; i++)
            {
                IReadOnlyList<int> row = codes[start + i];
                if (row.Count != LocationParser.SegmentTokensPerObject)
                {
                    throw new ArgumentException($"Object {start + i} has {row.Count} mask codes; the decoder takes {LocationParser.SegmentTokensPerObject}.", nameof(codes));
                }

                for (int k = 0; k < row.Count; k++)
                {
                    if ((uint)row[k] >= (uint)CodebookSize)
                    {
                        throw new ArgumentException($"Object {start + i} has mask code {row[k]}; {Path} has a codebook of {CodebookSize}.", nameof(codes));
                    }

                    input[(i * LocationParser.SegmentTokensPerObject) + k] = row[k];
                }
            }

            using var value = OrtValue.CreateTensorValueFromMemory(input, [n, LocationParser.SegmentTokensPerObject]);
            using var outputs = _session.Run(runOptions, [InputName], [value], [OutputName]);
            ReadOnlySpan<float> data = outputs[0].GetTensorDataAsSpan<float>();
            if (data.Length != n * area)
            {
                throw new InvalidOperationException($"{Path} returned {data.Length} values for {n} objects; expected {n * area}.");
            }

            data.CopyTo(result.AsSpan(start * area));
        }

        return result;
    }

    /// <summary>
    /// Decodes the mask of every object that has mask codes, in batches over all targets together, and places each
    /// into its box on its image (<see cref="MaskPlacement"/>).
    /// </summary>
    /// <param name="targets">Objects of one or more answers, with their original image size.</param>
    /// <param name="cancellationToken">Checked between batches.</param>
    /// <returns>Per target, its objects in order, with <see cref="DetectedObject.Mask"/> set where codes exist.</returns>
    public IReadOnlyList<IReadOnlyList<DetectedObject>> AddMasks(IReadOnlyList<MaskTarget> targets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var codes = new List<IReadOnlyList<int>>();
        foreach (MaskTarget t in targets)
        {
            codes.AddRange(t.Objects.Where(o => o.HasSegmentCodes).Select(o => o.SegmentCodes!));
        }

        if (codes.Count == 0)
        {
            return targets.Select(t => t.Objects).ToArray();
        }

        float[] logits = DecodeLogits(codes, cancellationToken);
        int area = MaskSize * MaskSize;
        int next = 0;
        var result = new IReadOnlyList<DetectedObject>[targets.Count];
        for (int t = 0; t < targets.Count; t++)
        {
            MaskTarget target = targets[t];
            var placed = new DetectedObject[target.Objects.Count];
            for (int i = 0; i < placed.Length; i++)
            {
                DetectedObject o = target.Objects[i];
                placed[i] = o.HasSegmentCodes
                    ? o with { Mask = MaskPlacement.Place(logits.AsSpan(next++ * area, area), MaskSize, o, target.ImageWidth, target.ImageHeight) }
                    : o;
            }

            result[t] = placed;
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _session.Dispose();
    }

    private static (int MaskSize, int CodebookSize) Validate(string path, InferenceSession session)
    {
        if (!session.InputMetadata.TryGetValue(InputName, out NodeMetadata? input) || input.ElementDataType != TensorElementType.Int64
            || input.Dimensions.Length != 2 || input.Dimensions[1] != LocationParser.SegmentTokensPerObject)
        {
            throw new ModelFormatException(path, $"expected input '{InputName}' int64 [batch, {LocationParser.SegmentTokensPerObject}] (a graph from tools/convert_vae_oid.py); found {Describe(session.InputMetadata)}.");
        }

        if (!session.OutputMetadata.TryGetValue(OutputName, out NodeMetadata? output) || output.ElementDataType != TensorElementType.Float
            || output.Dimensions.Length != 3 || output.Dimensions[1] <= 0 || output.Dimensions[1] != output.Dimensions[2])
        {
            throw new ModelFormatException(path, $"expected output '{OutputName}' float [batch, S, S]; found {Describe(session.OutputMetadata)}.");
        }

        int codebook = LocationParser.SegmentCodebookSize;
        if (session.ModelMetadata.CustomMetadataMap.TryGetValue("codebook_size", out string? declared))
        {
            if (!int.TryParse(declared, NumberStyles.None, CultureInfo.InvariantCulture, out codebook) || codebook <= 0)
            {
                throw new ModelFormatException(path, $"metadata codebook_size '{declared}' is not a positive integer.");
            }
        }

        return (output.Dimensions[1], codebook);
    }

    private static string Describe(IReadOnlyDictionary<string, NodeMetadata> metadata) =>
        metadata.Count == 0 ? "none" : string.Join(", ", metadata.Select(m => $"'{m.Key}' {m.Value.ElementDataType} [{string.Join(", ", m.Value.Dimensions)}]"));
}

/// <summary>The objects of one answer and the size of the original image they belong to.</summary>
/// <param name="Objects">Parsed objects; those with mask codes get a mask.</param>
/// <param name="ImageWidth">Original image width in pixels.</param>
/// <param name="ImageHeight">Original image height in pixels.</param>
public sealed record MaskTarget(IReadOnlyList<DetectedObject> Objects, int ImageWidth, int ImageHeight);

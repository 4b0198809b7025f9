using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Runtime;

namespace PaliGemma.Inference.Generation;

/// <summary>
/// The image features of one Generate call, [F, N, D] in one tensor where generation state lives (the device unless
/// the host-bound flow was asked for): each image is encoded once and its slot serves every row that names it. The
/// prefill merge gathers from it on the provider, so features never visit the host.
/// </summary>
internal sealed class FeatureTable : IDisposable
{
    private readonly Dictionary<int, int> _slots;

    private FeatureTable(Dictionary<int, int> slots, Dictionary<int, double> visionMs)
    {
        _slots = slots;
        VisionMs = visionMs;
    }

    /// <summary>The [F, N, D] features (set once the first chunk has run).</summary>
    public OrtValue Value { get; private set; } = null!;

    /// <summary>Vision encoder time per image (its chunk's time shared by the chunk's images).</summary>
    public IReadOnlyDictionary<int, double> VisionMs { get; }

    public int Slot(int imageIndex) => _slots[imageIndex];

    public void Dispose() => Value?.Dispose();

    /// <summary>Runs the vision encoder over every image the rows name, in chunks of at most <paramref name="chunkSize"/>.</summary>
    public static FeatureTable Encode(ModelGraphs g, GenerationCall call, IReadOnlyList<PreprocessedImage> images, IEnumerable<int> imageIndices,
        int chunkSize, int height, int width, string visionPath, CancellationToken ct)
    {
        var needed = imageIndices.Distinct().Order().ToList();
        var slots = needed.Select((image, slot) => (image, slot)).ToDictionary(x => x.image, x => x.slot);
        var visionMs = new Dictionary<int, double>(needed.Count);
        var c = g.Contract;
        call.Counter.Phase = TransferPhase.Vision;
        using var vision = new BoundGraph(g.Vision, g.Memory, call.Counter);
        FeatureTable? building = null;
        try
        {
            building = new FeatureTable(slots, visionMs);
            var result = building;
            if (needed.Count > chunkSize)
            {
                // Several chunks write into views of one table, so the merge sees a single [F, N, D] tensor.
                result.Value = OrtValue.CreateAllocatedTensorValue(g.Memory.Allocator(g.Memory.StateSide), c.FeatureType, [needed.Count, c.ImageTokens, c.Hidden]);
            }

            for (var start = 0; start < needed.Count; start += chunkSize)
            {
                ct.ThrowIfCancellationRequested();
                var chunk = needed.GetRange(start, Math.Min(chunkSize, needed.Count - start));
                var sw = Stopwatch.StartNew();
                if (result.Value is null)
                {
                    result.Value = EncodeChunk(g, vision, call, images, chunk, null, start, height, width)!;
                }
                else
                {
                    EncodeChunk(g, vision, call, images, chunk, result.Value, start, height, width);
                }

                call.Statistics.Vision += sw.Elapsed;
                var shape = result.Value.GetTensorTypeAndShape().Shape;
                if (shape.Length != 3 || shape[1] != c.ImageTokens || shape[2] != c.Hidden)
                {
                    throw new ModelFormatException(visionPath, $"produced image_features [{string.Join(",", shape)}], expected [B,{c.ImageTokens},{c.Hidden}].");
                }

                foreach (var image in chunk)
                {
                    visionMs[image] = sw.Elapsed.TotalMilliseconds / chunk.Count;
                }
            }

            call.Statistics.Images += needed.Count;
            building = null;
            return result;
        }
        finally
        {
            building?.Dispose();
        }
    }

    /// <summary>
    /// One vision call: pixels from the reused host buffer in, features out where state lives. Writes into
    /// <paramref name="table"/> at <paramref name="start"/> when given (returns null), else returns the provider's new tensor.
    /// </summary>
    private static OrtValue? EncodeChunk(ModelGraphs g, BoundGraph vision, GenerationCall call, IReadOnlyList<PreprocessedImage> images, List<int> chunk,
        OrtValue? table, int start, int height, int width)
    {
        var c = g.Contract;
        var side = g.Memory.StateSide;
        var pixelCount = 3 * height * width;
        var pixelSize = TensorOps.ElementSize(c.PixelType);
        var pixels = g.Host.Pixels.Span<byte>((long)chunk.Count * pixelCount * pixelSize);
        for (var i = 0; i < chunk.Count; i++)
        {
            var src = images[chunk[i]].PixelValues;
            if (src.Length != pixelCount)
            {
                throw new ArgumentException($"Image {chunk[i]} has {src.Length} pixel values; this model expects {pixelCount} (3x{height}x{width}).", nameof(images));
            }

            TensorOps.CopyConvert(MemoryMarshal.AsBytes(src.AsSpan()), TensorElementType.Float, pixels[(i * pixelCount * pixelSize)..], c.PixelType, pixelCount);
        }

        using var pixelView = g.Host.Pixels.View(c.PixelType, [chunk.Count, 3, height, width]);
        vision.Input(GraphContract.PixelValues, pixelView, MemorySide.Host);
        var perImage = (long)c.ImageTokens * c.Hidden * TensorOps.ElementSize(c.FeatureType);
        using var slice = table is null ? null : OrtValue.CreateTensorValueWithData(g.Memory.Info(side), c.FeatureType, [chunk.Count, c.ImageTokens, c.Hidden],
            DeviceMemory.DataPointer(table) + (nint)(start * perImage), chunk.Count * perImage);
        if (slice is null)
        {
            vision.Output(GraphContract.ImageFeatures, side);
        }
        else
        {
            vision.Output(GraphContract.ImageFeatures, slice, side);
        }

        Span<OrtValue?> output = new OrtValue?[1];
        vision.Run(call.RunOptions, output);
        if (table is null)
        {
            return output[0]!;
        }

        output[0]!.Dispose();
        return null;
    }
}

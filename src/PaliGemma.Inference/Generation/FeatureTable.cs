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

    private FeatureTable(OrtValue value, Dictionary<int, int> slots, Dictionary<int, double> visionMs)
    {
        Value = value;
        _slots = slots;
        VisionMs = visionMs;
    }

    public OrtValue Value { get; }

    /// <summary>Vision encoder time per image (its chunk's time shared by the chunk's images).</summary>
    public IReadOnlyDictionary<int, double> VisionMs { get; }

    public int Slot(int imageIndex) => _slots[imageIndex];

    public void Dispose() => Value.Dispose();

    /// <summary>Runs the vision encoder over every image the rows name, in chunks of at most <paramref name="chunkSize"/>.</summary>
    public static FeatureTable Encode(ModelGraphs g, GenerationCall call, IReadOnlyList<PreprocessedImage> images, IEnumerable<int> imageIndices,
        int chunkSize, int height, int width, string visionPath, CancellationToken ct)
    {
        var needed = imageIndices.Distinct().Order().ToList();
        var slots = needed.Select((image, slot) => (image, slot)).ToDictionary(x => x.image, x => x.slot);
        var visionMs = new Dictionary<int, double>(needed.Count);
        var c = g.Contract;
        var tokens = c.ImageTokens;
        var hidden = c.Hidden;
        var side = g.Memory.StateSide;
        var perImageBytes = (long)tokens * hidden * TensorOps.ElementSize(c.FeatureType);
        var pixelCount = 3 * height * width;
        call.Counter.Phase = TransferPhase.Vision;

        // One chunk binds the output to fresh provider memory; several write into views of one table so the merge
        // sees a single [F, N, D] tensor without a concatenation.
        OrtValue? table = needed.Count > chunkSize ? OrtValue.CreateAllocatedTensorValue(g.Memory.Allocator(side), c.FeatureType, [needed.Count, tokens, hidden]) : null;
        try
        {
            using var vision = new BoundGraph(g.Vision, g.Memory, call.Counter);
            Span<OrtValue?> output = new OrtValue?[1];
            for (var start = 0; start < needed.Count; start += chunkSize)
            {
                ct.ThrowIfCancellationRequested();
                var count = Math.Min(chunkSize, needed.Count - start);
                var pixels = MemoryMarshal.AsBytes(g.Host.Pixels.Span<byte>((long)count * pixelCount * TensorOps.ElementSize(c.PixelType)));
                for (var i = 0; i < count; i++)
                {
                    var src = images[needed[start + i]].PixelValues;
                    if (src.Length != pixelCount)
                    {
                        throw new ArgumentException($"Image {needed[start + i]} has {src.Length} pixel values; this model expects {pixelCount} (3x{height}x{width}).", nameof(images));
                    }

                    TensorOps.CopyConvert(MemoryMarshal.AsBytes(src.AsSpan()), TensorElementType.Float, pixels[(i * pixelCount * TensorOps.ElementSize(c.PixelType))..], c.PixelType, pixelCount);
                }

                using var pixelView = g.Host.Pixels.View(c.PixelType, [count, 3, height, width]);
                using var slice = table is null ? null : OrtValue.CreateTensorValueWithData(g.Memory.Info(side), c.FeatureType, [count, tokens, hidden],
                    DeviceMemory.DataPointer(table) + (nint)(start * perImageBytes), count * perImageBytes);
                vision.Input(GraphContract.PixelValues, pixelView, MemorySide.Host);
                if (slice is null)
                {
                    vision.Output(GraphContract.ImageFeatures, side);
                }
                else
                {
                    vision.Output(GraphContract.ImageFeatures, slice, side);
                }

                var sw = Stopwatch.StartNew();
                vision.Run(call.RunOptions, output);
                call.Statistics.Vision += sw.Elapsed;
                var produced = output[0]!;
                output[0] = null;
                if (table is null)
                {
                    table = produced;
                }
                else
                {
                    produced.Dispose();
                }

                var shape = table.GetTensorTypeAndShape().Shape;
                if (shape.Length != 3 || shape[1] != tokens || shape[2] != hidden)
                {
                    throw new ModelFormatException(visionPath, $"produced image_features [{string.Join(",", shape)}], expected [B,{tokens},{hidden}].");
                }

                for (var i = 0; i < count; i++)
                {
                    visionMs[needed[start + i]] = sw.Elapsed.TotalMilliseconds / count;
                }
            }

            call.Statistics.Images += needed.Count;
            var result = new FeatureTable(table!, slots, visionMs);
            table = null;
            return result;
        }
        finally
        {
            table?.Dispose();
        }
    }
}

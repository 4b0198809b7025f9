using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Masks;

/// <summary>
/// Puts a decoded S x S mask (S = 64 for vae-oid) into its box on the original image and encodes the result as a
/// full-image <see cref="CocoRle"/>.
/// </summary>
/// <remarks>
/// <para>
/// Box: the object's corners in original-image pixels (pixel = bin / 1024 * size, docs/architecture.md §2), as continuous
/// coordinates where pixel (x, y) covers [x, x+1) x [y, y+1). A pixel belongs to the box when its centre does:
/// columns ceil(x1 - 0.5) .. ceil(x2 - 0.5) - 1, rows likewise. Nothing outside the box is ever set.
/// </para>
/// <para>
/// Resize: the S x S grid is stretched over the continuous box and sampled bilinearly at each pixel centre with
/// half-pixel alignment (source = (centre - x1) / (x2 - x1) * S - 0.5, clamped to the grid's edge), the mapping of
/// PIL's and jax.image.resize's bilinear upsampling. Threshold: a pixel is in the mask when the interpolated logit
/// is &gt; 0, the big_vision evaluator's rule. Sampling the continuous box rather than resizing to a rounded integer
/// box (as the evaluator does after truncating the corners) keeps the mask where the box says, to the sub-pixel.
/// </para>
/// </remarks>
public static class MaskPlacement
{
    /// <summary>The integer pixel span [start, end) whose centres lie in [lo, hi), clamped to [0, size].</summary>
    /// <param name="lo">Low edge in pixels.</param>
    /// <param name="hi">High edge in pixels.</param>
    /// <param name="size">Image width or height.</param>
    /// <returns>First pixel and one past the last; equal when the box covers no pixel centre.</returns>
    public static (int Start, int End) PixelSpan(double lo, double hi, int size)
    {
        int start = (int)Math.Clamp(Math.Ceiling(lo - 0.5), 0, size);
        int end = (int)Math.Clamp(Math.Ceiling(hi - 0.5), start, size);
        return (start, end);
    }

    /// <summary>Resizes a mask's logits into its box, thresholds at 0 and encodes the whole image as COCO RLE.</summary>
    /// <param name="logits">S x S row-major decoder output for the object.</param>
    /// <param name="maskSize">S.</param>
    /// <param name="box">The object; only its corners are used.</param>
    /// <param name="imageWidth">Original image width.</param>
    /// <param name="imageHeight">Original image height.</param>
    /// <returns>The full-image mask; empty (all zero) when the box covers no pixel centre.</returns>
    public static CocoRle Place(ReadOnlySpan<float> logits, int maskSize, DetectedObject box, int imageWidth, int imageHeight)
    {
        ArgumentNullException.ThrowIfNull(box);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maskSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageHeight);
        if (logits.Length != maskSize * maskSize)
        {
            throw new ArgumentException($"Expected {maskSize}x{maskSize} mask logits, got {logits.Length} values.", nameof(logits));
        }

        var (x0, x1) = PixelSpan(box.X1, box.X2, imageWidth);
        var (y0, y1) = PixelSpan(box.Y1, box.Y2, imageHeight);
        var runs = new CocoRle.RunBuilder();
        if (x1 <= x0 || y1 <= y0)
        {
            runs.Add(false, (long)imageWidth * imageHeight);
            return new CocoRle(imageHeight, imageWidth, CocoRle.EncodeCounts(runs.Finish()));
        }

        // Per-row and per-column sample positions are shared by every pixel of that row/column.
        var rows = Axis(y0, y1, box.Y1, box.Y2, maskSize);
        var cols = Axis(x0, x1, box.X1, box.X2, maskSize);

        runs.Add(false, (long)x0 * imageHeight);
        for (int cx = 0; cx < cols.Length; cx++)
        {
            var c = cols[cx];
            runs.Add(false, y0);
            for (int ry = 0; ry < rows.Length; ry++)
            {
                var r = rows[ry];
                float top = Lerp(logits[(r.Lo * maskSize) + c.Lo], logits[(r.Lo * maskSize) + c.Hi], c.Frac);
                float bottom = Lerp(logits[(r.Hi * maskSize) + c.Lo], logits[(r.Hi * maskSize) + c.Hi], c.Frac);
                runs.Add(Lerp(top, bottom, r.Frac) > 0f, 1);
            }

            runs.Add(false, imageHeight - y1);
        }

        runs.Add(false, (long)(imageWidth - x1) * imageHeight);
        return new CocoRle(imageHeight, imageWidth, CocoRle.EncodeCounts(runs.Finish()));
    }

    private static float Lerp(float a, float b, float t) => a + ((b - a) * t);

    private static Sample[] Axis(int start, int end, double lo, double hi, int maskSize)
    {
        var samples = new Sample[end - start];
        double scale = maskSize / (hi - lo);
        for (int p = start; p < end; p++)
        {
            double src = Math.Clamp((((p + 0.5) - lo) * scale) - 0.5, 0, maskSize - 1);
            int i = Math.Min((int)Math.Floor(src), maskSize - 1);
            int j = Math.Min(i + 1, maskSize - 1);
            samples[p - start] = new Sample(i, j, (float)(src - i));
        }

        return samples;
    }

    private readonly record struct Sample(int Lo, int Hi, float Frac);
}

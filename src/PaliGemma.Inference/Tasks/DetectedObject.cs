using PaliGemma.Inference.Masks;

namespace PaliGemma.Inference.Tasks;

/// <summary>
/// One object from a detect/segment answer: a box in the ORIGINAL image's pixels (after EXIF orientation), x to the
/// right and y down, with its label.
/// </summary>
/// <param name="Label">The label text the model wrote after the tokens, trimmed; may be empty when output was cut off.</param>
/// <param name="X1">Left edge in pixels, in [0, width].</param>
/// <param name="Y1">Top edge in pixels, in [0, height].</param>
/// <param name="X2">Right edge in pixels, in [X1, width].</param>
/// <param name="Y2">Bottom edge in pixels, in [Y1, height].</param>
/// <param name="SegmentCodes">The sixteen VQ-VAE codebook indices (0..127) of a segment answer; null for detection.</param>
public sealed record DetectedObject(string Label, float X1, float Y1, float X2, float Y2, IReadOnlyList<int>? SegmentCodes)
{
    /// <summary>True when the object carries mask codes that a mask decoder can turn into a 64x64 mask.</summary>
    public bool HasSegmentCodes => SegmentCodes is { Count: LocationParser.SegmentTokensPerObject };

    /// <summary>
    /// The object's mask over the whole original image (COCO RLE, <c>size</c> = [height, width]), set only inside the
    /// box; null for detection, or for segmentation without a mask decoder.
    /// </summary>
    public CocoRle? Mask { get; init; }
}

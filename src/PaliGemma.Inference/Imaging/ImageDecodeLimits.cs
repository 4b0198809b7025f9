namespace PaliGemma.Inference.Imaging;

/// <summary>
/// Limits checked against an image's header before any pixel is decoded, so a small file declaring a huge
/// canvas (a decompression bomb) is refused without allocating its pixels.
/// </summary>
/// <param name="MaxPixels">Largest width x height accepted (default 64 megapixels, e.g. 8000 x 8000).</param>
/// <param name="MaxBytes">Largest encoded input accepted, in bytes (default 256 MiB).</param>
/// <param name="MaxDimension">Largest width or height accepted, in pixels (default 32768).</param>
public sealed record ImageDecodeLimits(long MaxPixels = 64_000_000, long MaxBytes = 256 * 1024 * 1024, int MaxDimension = 32_768)
{
    /// <summary>The default limits.</summary>
    public static ImageDecodeLimits Default { get; } = new();
}

namespace PaliGemma.Inference.Imaging;

/// <summary>
/// Size of the source image as the user sees it, i.e. after EXIF orientation was applied.
/// Detection boxes are scaled to this size.
/// </summary>
/// <param name="OriginalWidth">Width in pixels after EXIF orientation.</param>
/// <param name="OriginalHeight">Height in pixels after EXIF orientation.</param>
public readonly record struct ImageInfo(int OriginalWidth, int OriginalHeight);

/// <summary>One preprocessed image: CHW float pixels plus the original (post-orientation) size.</summary>
/// <param name="PixelValues">3 x H x W floats, channel-major (R plane, G plane, B plane).</param>
/// <param name="OriginalWidth">Source width in pixels after EXIF orientation.</param>
/// <param name="OriginalHeight">Source height in pixels after EXIF orientation.</param>
public sealed record PreprocessedImage(float[] PixelValues, int OriginalWidth, int OriginalHeight);

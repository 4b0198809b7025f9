using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PaliGemma.Pipeline.Documents;

/// <summary>The text layer of a PDF page and whether it holds enough to stand in for OCR.</summary>
/// <param name="Text">The page's text in reading order as the PDF stores it.</param>
/// <param name="Usable">At least <see cref="DocumentOptions.TextLayerMinChars"/> letters or digits.</param>
public sealed record PageText(string Text, bool Usable);

/// <summary>
/// One rendered page, oriented as a viewer shows it. The page owns <see cref="Image"/>: disposing the page disposes
/// the image, so a caller that hands the image on (for example to a preprocessor that resizes it in place) disposes
/// the page once it is done with both.
/// </summary>
public sealed class RenderedPage : IDisposable
{
    internal RenderedPage(Image<Rgba32> image, double dpi)
    {
        Image = image;
        Width = image.Width;
        Height = image.Height;
        Dpi = dpi;
    }

    /// <summary>The page's pixels (RGBA, opaque).</summary>
    public Image<Rgba32> Image { get; }

    /// <summary>The rendered width in pixels, as rendered (before any later resizing of <see cref="Image"/>).</summary>
    public int Width { get; }

    /// <summary>The rendered height in pixels, as rendered.</summary>
    public int Height { get; }

    /// <summary>
    /// Pixels per inch of the rendering: for PDF the resolution it was rendered at; for TIFF the page's stored
    /// XResolution in dpi, or 0 when the file does not state one.
    /// </summary>
    public double Dpi { get; }

    /// <inheritdoc />
    public void Dispose() => Image.Dispose();
}

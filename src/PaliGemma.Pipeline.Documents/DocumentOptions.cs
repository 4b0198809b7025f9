using System.ComponentModel.DataAnnotations;

namespace PaliGemma.Pipeline.Documents;

/// <summary>Limits and rendering choices for documents (configuration section <c>Documents</c>).</summary>
public sealed class DocumentOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Documents";

    /// <summary>
    /// The default of <see cref="MaxPagePixels"/>: 40 megapixels. A letter or A4 page rendered at 600 dpi is 34 to
    /// 35 MP, so every ordinary page at any sensible <c>--pdf-dpi</c> fits; a page above it is rendered scaled down.
    /// At 4 bytes a pixel one page then costs at most 160 MB in PDFium's bitmap plus 160 MB in the returned image,
    /// and only one PDF page renders at a time in a process.
    /// </summary>
    public const long DefaultMaxPagePixels = 40_000_000;

    /// <summary>A document with more pages fails as <c>too_many_pages</c> when it is opened, before any page renders.</summary>
    [Range(1, 1_000_000)]
    public int MaxPages { get; set; } = 5000;

    /// <summary>A document file larger than this fails as <c>too_large</c> before it is opened.</summary>
    [Range(1L, long.MaxValue)]
    public long MaxBytes { get; set; } = 2L << 30;

    /// <summary>
    /// Cap on the pixels of one rendered page (at most 500 MP: 4 bytes a pixel must stay under 2 GiB). A PDF page that would exceed it renders scaled down to fit; a TIFF
    /// page above it fails as <c>too_large</c> (a stored raster cannot be decoded at a lower resolution without
    /// decoding it whole first).
    /// </summary>
    [Range(1L, 500_000_000L)]
    public long MaxPagePixels { get; set; } = DefaultMaxPagePixels;

    /// <summary>
    /// PDF render resolution. Null (the default) renders each page at the size that just covers the model's input
    /// with the page's aspect kept, which is all the model sees; a value renders at that dpi (still capped by
    /// <see cref="MaxPagePixels"/>).
    /// </summary>
    [Range(1, 2400)]
    public int? PdfDpi { get; set; }

    /// <summary>A page's text layer is usable when it holds at least this many letters or digits.</summary>
    [Range(0, 1_000_000)]
    public int TextLayerMinChars { get; set; } = 20;

    /// <summary>
    /// Per-page time limit of a PDF render, in milliseconds (0 = none). A page past it fails as <c>timeout</c>; see
    /// <see cref="DocumentReader.RenderPage"/> for what happens to the native call that is still running.
    /// </summary>
    [Range(0, 3_600_000)]
    public int RenderTimeoutMs { get; set; } = 30_000;
}

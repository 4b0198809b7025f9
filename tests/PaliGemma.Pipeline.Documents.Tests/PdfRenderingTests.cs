using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Processing;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Documents.Tests;

/// <summary>PDF pages against a second rasteriser (poppler's pdftoppm), the resolution rule and /Rotate.</summary>
[Collection(DocumentCorpusCollection.Name)]
public sealed class PdfRenderingTests(DocumentCorpus corpus, ITestOutputHelper output)
{
    private static readonly DocumentOptions Options = new();

    // PDFium and poppler are different rasterisers: their anti-aliasing of glyph and path edges and their
    // resampling of embedded images differ by sub-pixel placement and filter shape, so edge pixels disagree.
    // Measured on these pages (per channel value, 0-255): pages of vector text and shapes 0.1 to 13 mean per pixel
    // and 0.04 to 5.1 on 4x4-block averages; the scans, full of hard-edged dark blocks on noisy paper, 7 to 13.5 per
    // pixel and 5 to 11.2 on blocks, the most at 448 px where every block edge falls between pixels. Overall levels
    // agree within 1. The bounds keep about 20 % over the worst page; the negative control below shows that a
    // wrong page or a page upside down lands far above them.
    private const double MeanBound = 16.0;
    private const double BlockBound = 13.5;

    [Theory]
    [InlineData("scanned.pdf", null)]
    [InlineData("scanned.pdf", 100)]
    [InlineData("scanned_linearized.pdf", null)]
    [InlineData("born_digital.pdf", null)]
    [InlineData("born_digital.pdf", 100)]
    [InlineData("rotated.pdf", null)]
    [InlineData("giant_page.pdf", null)]
    public void Every_page_matches_popplers_rendering_at_the_same_size(string name, int? dpi)
    {
        using var reader = DocumentReader.Open(corpus[name], DocumentKind.Pdf, Options);
        for (int page = 1; page <= reader.PageCount; page++)
        {
            using var rendered = reader.RenderPage(page, 448, 448, dpi, CancellationToken.None);
            byte[] poppler = corpus.Poppler(corpus[name], page, rendered.Width, rendered.Height);
            byte[] ours = DocumentCorpus.Rgb(rendered.Image);
            var (mean, max) = DocumentCorpus.Difference(ours, poppler);
            double blocks = DocumentCorpus.BlockDifference(ours, poppler, rendered.Width, rendered.Height);
            output.WriteLine($"{name} page {page} {rendered.Width}x{rendered.Height} at {rendered.Dpi:F1} dpi: mean {mean:F2}, max {max}, 4x4 blocks {blocks:F2}");
            Assert.True(mean < MeanBound, $"{name} page {page}: mean difference {mean:F2} from pdftoppm is above {MeanBound}");
            Assert.True(blocks < BlockBound, $"{name} page {page}: 4x4-block difference {blocks:F2} from pdftoppm is above {BlockBound}");
        }
    }

    [Fact]
    public void The_bounds_reject_a_wrong_page_and_a_page_upside_down()
    {
        using var reader = DocumentReader.Open(corpus["scanned.pdf"], DocumentKind.Pdf, Options);
        using var page1 = reader.RenderPage(1, 448, 448, null, CancellationToken.None);
        byte[] ours = DocumentCorpus.Rgb(page1.Image);
        byte[] otherPage = corpus.Poppler(corpus["scanned.pdf"], 2, page1.Width, page1.Height);
        double wrongPage = DocumentCorpus.BlockDifference(ours, otherPage, page1.Width, page1.Height);

        page1.Image.Mutate(x => x.Rotate(RotateMode.Rotate180));
        byte[] samePage = corpus.Poppler(corpus["scanned.pdf"], 1, page1.Width, page1.Height);
        double upsideDown = DocumentCorpus.BlockDifference(DocumentCorpus.Rgb(page1.Image), samePage, page1.Width, page1.Height);
        output.WriteLine($"4x4-block difference: wrong page {wrongPage:F2}, upside down {upsideDown:F2}");
        Assert.True(wrongPage > 1.5 * BlockBound, $"a different page differs by only {wrongPage:F2}");
        Assert.True(upsideDown > 3 * BlockBound, $"the page upside down differs by only {upsideDown:F2}");
    }

    [Fact]
    public void Default_size_covers_the_target_with_the_page_aspect_kept()
    {
        using var reader = DocumentReader.Open(corpus["scanned.pdf"], DocumentKind.Pdf, Options);

        // Page 1: 850x1100 px at 100 dpi = 612x792 pt (letter). Covering 448x448: scale max(448/612, 448/792) =
        // 0.732 px/pt, so 448 x round(792 * 448 / 612) = 448 x 580, at 72 * 448 / 612 = 52.7 dpi.
        using (var p1 = reader.RenderPage(1, 448, 448, null, CancellationToken.None))
        {
            Assert.Equal((448, 580), (p1.Width, p1.Height));
            Assert.Equal(52.7, p1.Dpi, 1);
        }

        // Page 3 is landscape (1100x850 px): 580 x 448.
        using (var p3 = reader.RenderPage(3, 448, 448, null, CancellationToken.None))
        {
            Assert.Equal((580, 448), (p3.Width, p3.Height));
        }

        // A non-square target: 224 wide, 896 high. Letter needs max(224/612, 896/792) = 1.1313 px/pt: 692 x 896.
        using var tall = reader.RenderPage(1, 224, 896, null, CancellationToken.None);
        Assert.Equal((692, 896), (tall.Width, tall.Height));
    }

    [Fact]
    public void A_dpi_override_replaces_the_automatic_size()
    {
        using var reader = DocumentReader.Open(corpus["born_digital.pdf"], DocumentKind.Pdf, Options);
        using var page = reader.RenderPage(1, 448, 448, 150, CancellationToken.None);

        // Letter at 150 dpi: 8.5 x 11 in = 1275 x 1650.
        Assert.Equal((1275, 1650), (page.Width, page.Height));
        Assert.Equal(150, page.Dpi, 3);

        // The options' PdfDpi is the default override; the argument wins over it.
        using var configured = DocumentReader.Open(corpus["born_digital.pdf"], DocumentKind.Pdf, new DocumentOptions { PdfDpi = 72 });
        using (var at72 = configured.RenderPage(1, 448, 448, null, CancellationToken.None))
        {
            Assert.Equal((612, 792), (at72.Width, at72.Height));
        }

        using var at100 = configured.RenderPage(1, 448, 448, 100, CancellationToken.None);
        Assert.Equal((850, 1100), (at100.Width, at100.Height));
    }

    [Fact]
    public void The_largest_page_renders_scaled_down_to_the_pixel_cap()
    {
        // 14,400 pt square. At 300 dpi that is 60,000 x 60,000 = 3.6 gigapixels (14 GB of RGBA); the cap makes it
        // sqrt(4,000,000) = 2,000 px square.
        var options = new DocumentOptions { MaxPagePixels = 4_000_000 };
        using var reader = DocumentReader.Open(corpus["giant_page.pdf"], DocumentKind.Pdf, options);
        using var capped = reader.RenderPage(1, 448, 448, 300, CancellationToken.None);
        Assert.Equal((2000, 2000), (capped.Width, capped.Height));
        Assert.Equal(10.0, capped.Dpi, 3); // 2000 px / 200 in

        // The default cap of 40 MP at the page's own 72 dpi (207 MP): floor(sqrt(40e6)) = 6,324 px a side.
        using var defaults = DocumentReader.Open(corpus["giant_page.pdf"], DocumentKind.Pdf, Options);
        using var page = defaults.RenderPage(1, 448, 448, 72, CancellationToken.None);
        Assert.Equal((6324, 6324), (page.Width, page.Height));

        // The content is where poppler puts it: the dark upper-left quarter.
        Assert.True(DocumentCorpus.MeanLevel(capped.Image, 0.05, 0.05, 0.45, 0.45) < 80);
        Assert.True(DocumentCorpus.MeanLevel(capped.Image, 0.55, 0.05, 0.95, 0.45) > 240);
    }

    [Fact]
    public void A_page_with_rotate_90_comes_out_rotated()
    {
        using var reader = DocumentReader.Open(corpus["rotated.pdf"], DocumentKind.Pdf, Options);

        // Page 1 is letter with /Rotate 90: shown landscape, 792 x 612 pt, so it covers 448x448 at 580 x 448.
        using var rotated = reader.RenderPage(1, 448, 448, null, CancellationToken.None);
        Assert.Equal((580, 448), (rotated.Width, rotated.Height));

        // The black square sits in the unrotated page's top-left corner (x 36-180 pt, y 36-180 pt from the top).
        // Turned 90 degrees clockwise, the top-left corner goes to the top-right.
        Assert.True(DocumentCorpus.MeanLevel(rotated.Image, 0.80, 0.08, 0.94, 0.26) < 30, "top-right should hold the square");
        Assert.True(DocumentCorpus.MeanLevel(rotated.Image, 0.15, 0.02, 0.45, 0.20) > 240, "top-left should be blank");

        // Page 2 is not rotated: portrait, square in its top-left.
        using var upright = reader.RenderPage(2, 448, 448, null, CancellationToken.None);
        Assert.Equal((448, 580), (upright.Width, upright.Height));
        Assert.True(DocumentCorpus.MeanLevel(upright.Image, 0.08, 0.06, 0.26, 0.20) < 30);
    }

    [Fact]
    public void The_text_layer_is_usable_only_where_it_holds_enough_letters()
    {
        using var digital = DocumentReader.Open(corpus["born_digital.pdf"], DocumentKind.Pdf, Options);
        var page1 = digital.ReadText(1);
        Assert.NotNull(page1);
        Assert.True(page1.Usable);
        Assert.Contains("Quarterly report, page 1", page1.Text, StringComparison.Ordinal);

        // Page 2 says only "Page 2": 5 letters and digits, under the 20 required.
        var page2 = digital.ReadText(2);
        Assert.NotNull(page2);
        Assert.False(page2.Usable);
        Assert.Contains("Page 2", page2.Text, StringComparison.Ordinal);
        Assert.True(digital.ReadText(3)!.Usable);
        Assert.False(digital.ReadText(4)!.Usable);

        // A lower threshold makes the sparse page usable.
        using var lenient = DocumentReader.Open(corpus["born_digital.pdf"], DocumentKind.Pdf, new DocumentOptions { TextLayerMinChars = 5 });
        Assert.True(lenient.ReadText(2)!.Usable);

        // A scanned page has no text layer at all.
        using var scanned = DocumentReader.Open(corpus["scanned.pdf"], DocumentKind.Pdf, Options);
        Assert.Null(scanned.ReadText(1));

        using var tiff = DocumentReader.Open(corpus["g4_multi.tif"], DocumentKind.Tiff, Options);
        Assert.Null(tiff.ReadText(1));
    }
}

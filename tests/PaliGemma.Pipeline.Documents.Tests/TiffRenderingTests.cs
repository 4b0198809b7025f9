using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Documents.Tests;

/// <summary>TIFF pages against PIL's decode (libtiff), orientation, mixed sizes, a damaged page.</summary>
[Collection(DocumentCorpusCollection.Name)]
public sealed class TiffRenderingTests(DocumentCorpus corpus, ITestOutputHelper output)
{
    private static readonly DocumentOptions Options = new();

    [Theory]
    [InlineData("g4_multi.tif", 3)]
    [InlineData("lzw_rgb.tif", 2)]
    [InlineData("deflate_gray.tif", 2)]
    [InlineData("packbits_gray.tif", 2)]
    [InlineData("mixed_sizes.tif", 3)]
    public void Lossless_pages_equal_pils_decode_exactly(string name, int pages)
    {
        using var reader = DocumentReader.Open(corpus[name], DocumentKind.Tiff, Options);
        Assert.Equal(pages, reader.PageCount);
        for (int page = 1; page <= pages; page++)
        {
            using var rendered = reader.RenderPage(page, 448, 448, null, CancellationToken.None);
            var (rgb, w, h) = corpus.Pil(corpus[name], page);
            Assert.Equal((w, h), (rendered.Width, rendered.Height));
            Assert.Equal(rgb, DocumentCorpus.Rgb(rendered.Image));
        }
    }

    [Fact]
    public void Jpeg_pages_stay_within_two_decoders_rounding()
    {
        // LibTiff.NET decodes JPEG with LibJpeg.NET, PIL with libjpeg-turbo: IDCT and YCbCr-to-RGB rounding differ
        // by a level or two on most pixels and more at block edges with chroma upsampling. A mean of 3 levels allows
        // that; a wrong colour space (YCbCr shown as RGB) or a missing chroma plane is off by tens.
        using var reader = DocumentReader.Open(corpus["jpeg_rgb.tif"], DocumentKind.Tiff, Options);
        for (int page = 1; page <= reader.PageCount; page++)
        {
            using var rendered = reader.RenderPage(page, 448, 448, null, CancellationToken.None);
            var (rgb, w, h) = corpus.Pil(corpus["jpeg_rgb.tif"], page);
            Assert.Equal((w, h), (rendered.Width, rendered.Height));
            var (mean, max) = DocumentCorpus.Difference(rgb, DocumentCorpus.Rgb(rendered.Image));
            output.WriteLine($"jpeg page {page}: mean {mean:F2}, max {max}");
            Assert.True(mean < 3.0, $"page {page}: mean difference {mean:F2} from PIL");
        }
    }

    [Fact]
    public void Pages_of_different_sizes_keep_their_own_sizes_and_the_orientation_tag_is_honoured()
    {
        using var reader = DocumentReader.Open(corpus["g4_multi.tif"], DocumentKind.Tiff, Options);
        using var p1 = reader.RenderPage(1, 448, 448, null, CancellationToken.None);
        using var p2 = reader.RenderPage(2, 448, 448, null, CancellationToken.None);
        using var p3 = reader.RenderPage(3, 448, 448, null, CancellationToken.None);
        Assert.Equal((850, 1100), (p1.Width, p1.Height));
        Assert.Equal((1100, 850), (p3.Width, p3.Height));
        Assert.Equal(100, p1.Dpi, 3);

        // Page 2 is stored 550 x 850 with Orientation 6 (the stored rows run down the right side): shown rotated
        // 90 degrees clockwise, 850 x 550. The stored top-left black block (first 85 rows, first 110 columns)
        // therefore shows at the top-right: columns 765-849, rows 0-109.
        Assert.Equal((850, 550), (p2.Width, p2.Height));
        Assert.True(DocumentCorpus.MeanLevel(p2.Image, 0.91, 0.0, 1.0, 0.19) < 5, "the block belongs top-right");
        Assert.True(DocumentCorpus.MeanLevel(p2.Image, 0.0, 0.0, 0.09, 0.19) > 200, "top-left holds no block");

        using var mixed = DocumentReader.Open(corpus["mixed_sizes.tif"], DocumentKind.Tiff, Options);
        int[][] sizes = [[600, 800], [500, 300], [200, 260]];
        for (int page = 1; page <= 3; page++)
        {
            using var rendered = mixed.RenderPage(page, 448, 448, null, CancellationToken.None);
            Assert.Equal((sizes[page - 1][0], sizes[page - 1][1]), (rendered.Width, rendered.Height));
        }
    }

    [Fact]
    public void A_corrupt_strip_fails_only_its_page()
    {
        using var reader = DocumentReader.Open(corpus["corrupt_strip.tif"], DocumentKind.Tiff, Options);
        Assert.Equal(3, reader.PageCount);
        foreach (int page in new[] { 1, 3 })
        {
            using var rendered = reader.RenderPage(page, 448, 448, null, CancellationToken.None);
            Assert.Equal(corpus.Pil(corpus["corrupt_strip.tif"], page).Rgb, DocumentCorpus.Rgb(rendered.Image));
        }

        var failure = Assert.Throws<DocumentPageException>(() => reader.RenderPage(2, 448, 448, null, CancellationToken.None));
        Assert.Equal(2, failure.Page);
        Assert.Equal("corrupt", failure.ReasonCode);
        output.WriteLine(failure.Message);

        // The failed page leaves the reader usable.
        using var again = reader.RenderPage(3, 448, 448, null, CancellationToken.None);
        Assert.Equal((300, 200), (again.Width, again.Height));
    }

    [Fact]
    public void Pages_render_in_parallel_to_the_same_pixels()
    {
        using var reader = DocumentReader.Open(corpus["mixed_sizes.tif"], DocumentKind.Tiff, Options);
        var sequential = Enumerable.Range(1, 3).Select(p =>
        {
            using var r = reader.RenderPage(p, 448, 448, null, CancellationToken.None);
            return DocumentCorpus.Rgb(r.Image);
        }).ToArray();
        var parallel = new byte[12][];
        Parallel.For(0, 12, i =>
        {
            using var r = reader.RenderPage((i % 3) + 1, 448, 448, null, CancellationToken.None);
            parallel[i] = DocumentCorpus.Rgb(r.Image);
        });
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(sequential[i % 3], parallel[i]);
        }
    }

    [Fact]
    public void A_page_over_the_pixel_cap_fails_as_too_large()
    {
        using var reader = DocumentReader.Open(corpus["g4_multi.tif"], DocumentKind.Tiff, new DocumentOptions { MaxPagePixels = 500_000 });

        // Page 1 is 850 x 1100 = 935,000 pixels; page 2 is 550 x 850 = 467,500.
        var failure = Assert.Throws<DocumentPageException>(() => reader.RenderPage(1, 448, 448, null, CancellationToken.None));
        Assert.Equal("too_large", failure.ReasonCode);
        using var fits = reader.RenderPage(2, 448, 448, null, CancellationToken.None);
        Assert.Equal((850, 550), (fits.Width, fits.Height));
    }
}

namespace PaliGemma.Pipeline.Documents.Tests;

/// <summary>Every bad document ends as exactly one <see cref="DocumentException"/> with its reason code.</summary>
[Collection(DocumentCorpusCollection.Name)]
public sealed class BadDocumentTests(DocumentCorpus corpus)
{
    [Theory]
    [InlineData("encrypted.pdf", DocumentKind.Pdf, "encrypted")]
    [InlineData("truncated.pdf", DocumentKind.Pdf, "corrupt")]
    [InlineData("zero_pages.pdf", DocumentKind.Pdf, "no_pages")]
    [InlineData("html.pdf", DocumentKind.Pdf, "corrupt")]
    [InlineData("many_pages.pdf", DocumentKind.Pdf, "too_many_pages")]
    [InlineData("scanned.pdf", DocumentKind.Tiff, "corrupt")]
    [InlineData("g4_multi.tif", DocumentKind.Pdf, "corrupt")]
    public void Each_bad_document_fails_with_its_reason(string name, DocumentKind kind, string reason)
    {
        var options = new DocumentOptions { MaxPages = 10 };
        var failure = Assert.Throws<DocumentException>(() => DocumentReader.Open(corpus[name], kind, options));
        Assert.Equal(reason, failure.ReasonCode);
    }

    [Fact]
    public void Exactly_at_the_page_limit_opens()
    {
        using var reader = DocumentReader.Open(corpus["many_pages.pdf"], DocumentKind.Pdf, new DocumentOptions { MaxPages = 12 });
        Assert.Equal(12, reader.PageCount);
        var tiff = Assert.Throws<DocumentException>(() => DocumentReader.Open(corpus["g4_multi.tif"], DocumentKind.Tiff, new DocumentOptions { MaxPages = 2 }));
        Assert.Equal("too_many_pages", tiff.ReasonCode);
    }

    [Fact]
    public void Only_a_whole_tiff_of_exactly_one_page_in_memory_is_single_page()
    {
        using var image = new SixLabors.ImageSharp.Image<SixLabors.ImageSharp.PixelFormats.L8>(40, 30);
        using var stream = new MemoryStream();
        image.Save(stream, new SixLabors.ImageSharp.Formats.Tiff.TiffEncoder());
        var single = stream.ToArray();

        Assert.True(DocumentReader.IsSinglePageTiff(single));
        Assert.False(DocumentReader.IsSinglePageTiff(File.ReadAllBytes(corpus["lzw_rgb.tif"])));
        Assert.False(DocumentReader.IsSinglePageTiff(File.ReadAllBytes(corpus["g4_multi.tif"])));
        // One that the directory walk cannot follow is left to the document path, which reports why.
        Assert.False(DocumentReader.IsSinglePageTiff(single[..12]));
        Assert.False(DocumentReader.IsSinglePageTiff(File.ReadAllBytes(corpus["scanned.pdf"])));
    }

    [Fact]
    public void A_file_over_max_bytes_fails_before_it_is_opened()
    {
        // The HTML file would fail as corrupt if it were opened: too_large shows the size is checked first.
        long size = new FileInfo(corpus["html.pdf"]).Length;
        var failure = Assert.Throws<DocumentException>(() => DocumentReader.Open(corpus["html.pdf"], DocumentKind.Pdf, new DocumentOptions { MaxBytes = size - 1 }));
        Assert.Equal("too_large", failure.ReasonCode);
        using var fits = DocumentReader.Open(corpus["scanned.pdf"], DocumentKind.Pdf, new DocumentOptions { MaxBytes = new FileInfo(corpus["scanned.pdf"]).Length });
        Assert.Equal(4, fits.PageCount);
    }

    [Fact]
    public void Damaged_tiffs_fail_as_corrupt()
    {
        string dir = Path.Combine(corpus.Dir, "damaged-tiff");
        Directory.CreateDirectory(dir);
        byte[] good = File.ReadAllBytes(corpus["g4_multi.tif"]);

        // Cut in half: the directory chain runs past the end.
        string truncated = Path.Combine(dir, "truncated.tif");
        File.WriteAllBytes(truncated, good[..(good.Length / 2)]);

        // One empty directory whose next-directory pointer is itself: a loop in the chain must not hang the count.
        string loop = Path.Combine(dir, "loop.tif");
        byte[] looped = [.. "II*\0"u8, 8, 0, 0, 0, 0, 0, 8, 0, 0, 0];
        File.WriteAllBytes(loop, looped);

        // Garbage after a TIFF signature.
        string garbage = Path.Combine(dir, "garbage.tif");
        File.WriteAllBytes(garbage, [.. "MM\0*"u8, .. Enumerable.Repeat((byte)0x7f, 64)]);

        foreach (var path in new[] { truncated, loop, garbage })
        {
            var failure = Assert.Throws<DocumentException>(() => DocumentReader.Open(path, DocumentKind.Tiff, new DocumentOptions()));
            Assert.Equal("corrupt", failure.ReasonCode);
        }
    }

    [Theory]
    [InlineData("scanned.pdf", DocumentKind.Pdf)]
    [InlineData("encrypted.pdf", DocumentKind.Pdf)]
    [InlineData("html.pdf", null)]
    [InlineData("g4_multi.tif", DocumentKind.Tiff)]
    [InlineData("lzw_rgb.tif", DocumentKind.Tiff)]
    public void Files_are_sniffed_by_their_bytes(string name, DocumentKind? expected)
    {
        byte[] head = new byte[1024];
        using (var f = File.OpenRead(corpus[name]))
        {
            head = head[..f.Read(head)];
        }

        Assert.Equal(expected, DocumentSniffer.Sniff(head));
    }

    [Fact]
    public void Sniffing_knows_the_four_tiff_signatures_and_a_late_pdf_header()
    {
        Assert.Equal(DocumentKind.Tiff, DocumentSniffer.Sniff("II*\0xxxx"u8));
        Assert.Equal(DocumentKind.Tiff, DocumentSniffer.Sniff("MM\0*xxxx"u8));
        Assert.Equal(DocumentKind.Tiff, DocumentSniffer.Sniff("II+\0xxxx"u8));
        Assert.Equal(DocumentKind.Tiff, DocumentSniffer.Sniff("MM\0+xxxx"u8));
        Assert.Null(DocumentSniffer.Sniff("II*"u8));
        Assert.Null(DocumentSniffer.Sniff([]));

        byte[] late = new byte[1100];
        "%PDF-1.7"u8.CopyTo(late.AsSpan(1020));
        Assert.Null(DocumentSniffer.Sniff(late)); // the header ends past byte 1024
        "%PDF-1.7"u8.CopyTo(late.AsSpan(900));
        Assert.Equal(DocumentKind.Pdf, DocumentSniffer.Sniff(late));
        Assert.Null(DocumentSniffer.Sniff("\x89PNG\r\n\x1a\n"u8));
    }
}

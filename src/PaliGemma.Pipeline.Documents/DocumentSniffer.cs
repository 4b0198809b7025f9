namespace PaliGemma.Pipeline.Documents;

/// <summary>The document formats the reader opens.</summary>
public enum DocumentKind
{
    /// <summary>A PDF file, rendered by PDFium.</summary>
    Pdf,

    /// <summary>A TIFF file (classic or BigTIFF), decoded page by page by LibTiff.NET.</summary>
    Tiff,
}

/// <summary>Tells a document from other bytes by its leading signature, never by the object's name.</summary>
public static class DocumentSniffer
{
    /// <summary>How far into the file a PDF header may start: viewers accept junk before it within the first 1 KiB.</summary>
    public const int PdfHeaderWindow = 1024;

    /// <summary>
    /// The kind of document whose first bytes are <paramref name="head"/>: PDF when <c>%PDF-</c> occurs within the
    /// first 1,024 bytes, TIFF for the classic (<c>II*\0</c>, <c>MM\0*</c>) and BigTIFF (<c>II+\0</c>,
    /// <c>MM\0+</c>) signatures.
    /// </summary>
    /// <param name="head">The first bytes of the object; 1,024 are enough, fewer are fine.</param>
    /// <returns>The kind, or null when the bytes are neither (an image, HTML named .pdf, an empty object).</returns>
    public static DocumentKind? Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 4)
        {
            ReadOnlySpan<byte> h = head[..4];
            if (h.SequenceEqual("II*\0"u8) || h.SequenceEqual("MM\0*"u8) || h.SequenceEqual("II+\0"u8) || h.SequenceEqual("MM\0+"u8))
            {
                return DocumentKind.Tiff;
            }
        }

        ReadOnlySpan<byte> window = head.Length > PdfHeaderWindow ? head[..PdfHeaderWindow] : head;
        return window.IndexOf("%PDF-"u8) >= 0 ? DocumentKind.Pdf : null;
    }
}

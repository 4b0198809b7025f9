using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PaliGemma.Pipeline.Documents;

/// <summary>
/// An open document (PDF or multi-page TIFF) whose pages are rendered one at a time.
/// </summary>
/// <remarks>
/// <para>
/// <b>Memory.</b> The file is never loaded whole: PDFium reads the PDF through a stream callback (the cross-reference
/// table at open, one page's objects per render), and a TIFF is opened per page at that page's directory. A
/// 1,000-page document costs one page's pixels at a time; the caller disposes each <see cref="RenderedPage"/>.
/// </para>
/// <para>
/// <b>Threads.</b> PDFium is process-global and not thread-safe, so every PDFium call in the process takes one
/// lock: PDF rendering runs one page at a time per process however many threads ask. TIFF pages take no lock and
/// render in parallel, also from one reader. <see cref="ReadText"/> uses PdfPig (managed) under a per-reader lock.
/// </para>
/// <para>
/// <b>Pathological pages.</b> A PDF page with millions of drawing operations is bounded by a time limit
/// (<see cref="DocumentOptions.RenderTimeoutMs"/>), not by a child process. Past the limit the page fails at once
/// as <c>timeout</c>, but a managed limit cannot interrupt a native call: PDFium keeps rendering on its own
/// (abandoned) thread and keeps the process-wide lock until it returns, so the process's other PDF pages wait
/// behind it (cancellably) and no second PDF render can start; its bitmap is then discarded and the reader's file
/// is closed only after it. A page that never returns would hold the lock for the life of the process. The cost of
/// the limit is therefore one thread and a stalled PDF lane per pathological page, for no per-page overhead. A child
/// process per render (or a pool of them) could be killed and would also isolate PDFium crashes and give true
/// parallel PDF rendering, at the cost of a process start (tens of milliseconds for a .NET host) or a pool to
/// manage, and of copying every page's pixels across a pipe or shared memory; the limit was chosen as the simpler
/// first step.
/// </para>
/// </remarks>
public sealed class DocumentReader : IDisposable
{
    private readonly PdfSource? _pdf;
    private readonly TiffSource? _tiff;

    private DocumentReader(DocumentKind kind, PdfSource? pdf, TiffSource? tiff)
    {
        Kind = kind;
        _pdf = pdf;
        _tiff = tiff;
        PageCount = pdf?.PageCount ?? tiff!.PageCount;
    }

    /// <summary>The document's format.</summary>
    public DocumentKind Kind { get; }

    /// <summary>The number of pages (at least 1, at most <see cref="DocumentOptions.MaxPages"/>).</summary>
    public int PageCount { get; }

    /// <summary>
    /// Opens a local document file without loading it into memory, counts its pages and checks the limits.
    /// </summary>
    /// <param name="path">The local file.</param>
    /// <param name="kind">The format, as <see cref="DocumentSniffer.Sniff"/> found it.</param>
    /// <param name="options">Limits and rendering choices.</param>
    /// <param name="logger">Where an abandoned PDF render is reported; none by default.</param>
    /// <param name="ct">Cancels waiting for the PDFium lock.</param>
    /// <returns>The open reader; the caller disposes it.</returns>
    /// <exception cref="DocumentException">
    /// The document cannot be processed: <c>too_large</c> (file over <see cref="DocumentOptions.MaxBytes"/>, checked
    /// before opening), <c>encrypted</c>, <c>corrupt</c> (truncated, damaged, or not that format), <c>no_pages</c>,
    /// <c>too_many_pages</c>.
    /// </exception>
    public static DocumentReader Open(string path, DocumentKind kind, DocumentOptions options, ILogger? logger = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        long length = new FileInfo(path).Length;
        if (length > options.MaxBytes)
        {
            throw new DocumentException(DocumentFailureReason.TooLarge, $"The document is {length} bytes, more than Documents:MaxBytes ({options.MaxBytes}).");
        }

        if (length == 0)
        {
            throw new DocumentException(DocumentFailureReason.Corrupt, "The document file is empty.");
        }

        return kind switch
        {
            DocumentKind.Pdf => new DocumentReader(kind, PdfSource.Open(path, length, options, logger ?? NullLogger.Instance, ct), null),
            DocumentKind.Tiff => new DocumentReader(kind, null, TiffSource.Open(path, length, options)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown document kind."),
        };
    }

    /// <summary>
    /// Whether a whole TIFF held in memory has exactly one page, so it stays an image and needs no local copy. Walks
    /// its directory chain as <see cref="Open"/> does; a TIFF that walk cannot follow is not one page here, so the
    /// document path opens it from disk and reports why.
    /// </summary>
    public static bool IsSinglePageTiff(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        using var stream = new MemoryStream(bytes, writable: false);
        try
        {
            return TiffSource.WalkDirectories(stream, bytes.LongLength, maxPages: 2).Length == 1;
        }
        catch (Exception ex) when (ex is DocumentException or EndOfStreamException)
        {
            return false;
        }
    }

    /// <summary>
    /// Renders one page, oriented as a viewer shows it (PDF /Rotate, TIFF Orientation).
    /// </summary>
    /// <param name="page">1-based page number.</param>
    /// <param name="targetWidth">The model's input width: a PDF page renders just large enough to cover it.</param>
    /// <param name="targetHeight">The model's input height.</param>
    /// <param name="dpiOverride">A PDF resolution replacing the automatic one (<c>--pdf-dpi</c>); null keeps
    /// <see cref="DocumentOptions.PdfDpi"/> or, if that is null too, the automatic size. Ignored for TIFF, whose
    /// pages come at their stored resolution.</param>
    /// <param name="ct">Checked before and after the render, and while waiting for the PDFium lock.</param>
    /// <returns>The page; the caller disposes it.</returns>
    /// <exception cref="DocumentPageException">This page cannot be rendered (<c>corrupt</c>, <c>too_large</c>,
    /// <c>timeout</c>); other pages may still render.</exception>
    public RenderedPage RenderPage(int page, int targetWidth, int targetHeight, int? dpiOverride, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(page, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(page, PageCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetHeight, 1);
        return _pdf is not null
            ? _pdf.Render(page, targetWidth, targetHeight, dpiOverride, ct)
            : _tiff!.Render(page, ct);
    }

    /// <summary>The text layer of a PDF page.</summary>
    /// <param name="page">1-based page number.</param>
    /// <returns>The page's text and whether it is usable (at least <see cref="DocumentOptions.TextLayerMinChars"/>
    /// letters or digits); null for a TIFF, or a PDF page without text.</returns>
    public PageText? ReadText(int page)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(page, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(page, PageCount);
        return _pdf?.ReadText(page);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _pdf?.Dispose();
        _tiff?.Dispose();
    }
}

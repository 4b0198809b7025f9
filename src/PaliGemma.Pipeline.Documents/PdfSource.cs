using SizeF = System.Drawing.SizeF;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using PDFtoImage;
using PDFtoImage.Exceptions;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Advanced;
using SixLabors.ImageSharp.PixelFormats;
using SkiaSharp;
using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;
using PigDocument = UglyToad.PdfPig.PdfDocument;

namespace PaliGemma.Pipeline.Documents;

/// <summary>
/// A PDF opened from a local file through PDFium (PDFtoImage). PDFium reads the file through a stream callback, so
/// only the parts a call needs are read: the cross-reference table at open, one page's objects per render. Every
/// PDFium call goes through <see cref="PdfiumGate"/>.
/// </summary>
internal sealed class PdfSource : IDisposable
{
    private const int TrailerWindow = 1024;

    private readonly string _path;
    private readonly FileStream _stream;
    private readonly IReadOnlyList<SizeF> _pageSizes;
    private readonly DocumentOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _textLock = new();
    private FileStream? _textStream;
    private PigDocument? _text;
    private Task _inFlight = Task.CompletedTask;
    private bool _disposed;

    private PdfSource(string path, FileStream stream, IReadOnlyList<SizeF> pageSizes, DocumentOptions options, ILogger logger)
    {
        _path = path;
        _stream = stream;
        _pageSizes = pageSizes;
        _options = options;
        _logger = logger;
    }

    public int PageCount => _pageSizes.Count;

    public static PdfSource Open(string path, long length, DocumentOptions options, ILogger logger, CancellationToken ct)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 16 * 1024, FileOptions.RandomAccess);
        try
        {
            CheckEnvelope(stream, length);
            int count = PdfiumGate.Run(
                () =>
                {
                    if (!PdfiumGate.IsSupportedPlatform)
                    {
                        throw PdfiumGate.Unsupported();
                    }

                    return Conversion.GetPageCount(stream, leaveOpen: true, password: null);
                },
                ct);
            if (count == 0)
            {
                throw new DocumentException(DocumentFailureReason.NoPages, "The PDF has no page.");
            }

            if (count > options.MaxPages)
            {
                throw new DocumentException(DocumentFailureReason.TooManyPages, $"The PDF has {count} pages, more than Documents:MaxPages ({options.MaxPages}).");
            }

            // Sizes of the page boxes as displayed (PDFium applies /Rotate), read once: each render needs its page's
            // size before PDFium allocates the bitmap, and this avoids a second document load per page.
            var sizes = PdfiumGate.Run(
                () =>
                {
                    if (!PdfiumGate.IsSupportedPlatform)
                    {
                        throw PdfiumGate.Unsupported();
                    }

                    return Conversion.GetPageSizes(stream, leaveOpen: true, password: null).ToArray();
                },
                ct);
            return new PdfSource(path, stream, sizes, options, logger);
        }
        catch (Exception ex) when (Translate(ex) is { } translated)
        {
            stream.Dispose();
            throw translated;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// PDFium repairs what it can and would open a file cut short with whatever objects survived, so a truncated
    /// upload would silently lose its last pages. The specification puts <c>%PDF-</c> in the first KiB and
    /// <c>%%EOF</c> in the last; a file without either is refused as corrupt before PDFium sees it.
    /// </summary>
    private static void CheckEnvelope(FileStream stream, long length)
    {
        Span<byte> buffer = stackalloc byte[TrailerWindow];
        int head = stream.Read(buffer);
        if (DocumentSniffer.Sniff(buffer[..head]) != DocumentKind.Pdf)
        {
            throw new DocumentException(DocumentFailureReason.Corrupt, "Not a PDF: no %PDF- header in the first 1024 bytes.");
        }

        int tail = (int)Math.Min(TrailerWindow, length);
        stream.Seek(length - tail, SeekOrigin.Begin);
        stream.ReadExactly(buffer[..tail]);
        if (buffer[..tail].IndexOf("%%EOF"u8) < 0)
        {
            throw new DocumentException(DocumentFailureReason.Corrupt, "The PDF is truncated: no %%EOF in its last 1024 bytes.");
        }

        stream.Seek(0, SeekOrigin.Begin);
    }

    private static DocumentException? Translate(Exception ex) => ex switch
    {
        DocumentException d => d,
        PdfPasswordProtectedException or PdfUnsupportedSecuritySchemeException =>
            new DocumentException(DocumentFailureReason.Encrypted, "The PDF is encrypted and needs a password to open.", ex),
        PdfException => new DocumentException(DocumentFailureReason.Corrupt, $"PDFium cannot open the PDF: {ex.Message}", ex),
        _ => null,
    };

    /// <summary>
    /// The pixel size a page renders at. Automatic: the smallest scale at which the page covers the target with its
    /// aspect kept (max of the two ratios), which is all the model sees after resizing; an explicit dpi replaces
    /// it. Either way the result is scaled down to <see cref="DocumentOptions.MaxPagePixels"/>.
    /// </summary>
    internal static (int Width, int Height, double Dpi) RenderSize(SizeF pagePoints, int targetWidth, int targetHeight, int? dpi, long maxPixels)
    {
        double pw = Math.Max(pagePoints.Width, 1e-3), ph = Math.Max(pagePoints.Height, 1e-3);
        double scale = dpi is { } d ? d / 72.0 : Math.Max(targetWidth / pw, targetHeight / ph);
        double pixels = pw * scale * ph * scale;
        bool capped = pixels > maxPixels;
        if (capped)
        {
            scale *= Math.Sqrt(maxPixels / pixels);
        }

        // Rounding down under the cap keeps w * h within it (a square page stays square).
        Func<double, double> fit = capped ? Math.Floor : Math.Round;
        int w = Math.Max(1, (int)fit(pw * scale));
        int h = Math.Max(1, (int)fit(ph * scale));
        return (w, h, scale * 72.0);
    }

    public RenderedPage Render(int page, int targetWidth, int targetHeight, int? dpiOverride, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ct.ThrowIfCancellationRequested();
        var (w, h, dpi) = RenderSize(_pageSizes[page - 1], targetWidth, targetHeight, dpiOverride ?? _options.PdfDpi, _options.MaxPagePixels);
        var renderOptions = new RenderOptions
        {
            Dpi = Math.Max(1, (int)Math.Round(dpi)),
            Width = w,
            Height = h,
            WithAspectRatio = false,
            WithAnnotations = true,
            WithFormFill = true,
            AntiAliasing = PdfAntiAliasing.All,
            BackgroundColor = SKColors.White,
        };

        SKBitmap bitmap;
        try
        {
            bitmap = PdfiumGate.RunWithLimit(
                () =>
                {
                    if (!PdfiumGate.IsSupportedPlatform)
                    {
                        throw PdfiumGate.Unsupported();
                    }

                    return Conversion.ToImage(_stream, page - 1, leaveOpen: true, password: null, renderOptions);
                },
                b => b.Dispose(),
                _options.RenderTimeoutMs,
                elapsed => DocumentsLog.PdfRenderAbandonedDone(_logger, _path, page, elapsed.TotalSeconds),
                out _inFlight,
                ct);
        }
        catch (TimeoutException ex)
        {
            DocumentsLog.PdfRenderAbandoned(_logger, _path, page, _options.RenderTimeoutMs);
            throw new DocumentPageException(page, DocumentPageException.Timeout, $"Page {page} did not render within Documents:RenderTimeoutMs ({_options.RenderTimeoutMs} ms).", ex);
        }
        catch (PdfException ex)
        {
            throw new DocumentPageException(page, DocumentPageException.Corrupt, $"PDFium cannot render page {page}: {ex.Message}", ex);
        }

        using (bitmap)
        {
            return new RenderedPage(ToImage(bitmap, page), dpi);
        }
    }

    private static Image<Rgba32> ToImage(SKBitmap bitmap, int page)
    {
        if (bitmap.ColorType is not (SKColorType.Bgra8888 or SKColorType.Rgba8888) || bitmap.Width <= 0 || bitmap.Height <= 0)
        {
            throw new DocumentPageException(page, DocumentPageException.Corrupt, $"PDFium returned a {bitmap.ColorType} bitmap of {bitmap.Width}x{bitmap.Height} for page {page}.");
        }

        bool bgra = bitmap.ColorType == SKColorType.Bgra8888;
        int w = bitmap.Width, h = bitmap.Height, stride = bitmap.RowBytes;
        var image = new Image<Rgba32>(w, h);
        image.ProcessPixelRows(rows =>
        {
            ReadOnlySpan<byte> pixels = bitmap.GetPixelSpan();
            for (int y = 0; y < h; y++)
            {
                ReadOnlySpan<byte> src = pixels.Slice(y * stride, w * 4);
                Span<Rgba32> dst = rows.GetRowSpan(y);
                if (bgra)
                {
                    PixelOperations<Bgra32>.Instance.ToRgba32(Configuration.Default, MemoryMarshal.Cast<byte, Bgra32>(src), dst);
                }
                else
                {
                    MemoryMarshal.Cast<byte, Rgba32>(src).CopyTo(dst);
                }
            }
        });
        return image;
    }

    /// <summary>
    /// The page's text layer through PdfPig (managed, so it needs no PDFium lock; its own document is opened on
    /// first use over a second stream and kept). A page whose text cannot be extracted has none.
    /// </summary>
    public PageText? ReadText(int page)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_textLock)
        {
            string text;
            try
            {
                if (_text is null)
                {
                    _textStream ??= new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 16 * 1024, FileOptions.RandomAccess);
                    _text = PigDocument.Open(_textStream);
                }

                text = ContentOrderTextExtractor.GetText(_text.GetPage(page)).Trim();
            }
#pragma warning disable CA1031 // PdfPig throws a variety of types for damaged content; any of them means "no text layer", and the page still renders.
            catch (Exception ex) when (ex is not OutOfMemoryException)
#pragma warning restore CA1031
            {
                return null;
            }

            if (text.Length == 0)
            {
                return null;
            }

            int letters = 0;
            foreach (char c in text)
            {
                if (char.IsLetterOrDigit(c))
                {
                    letters++;
                }
            }

            return new PageText(text, letters >= _options.TextLayerMinChars);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _text?.Dispose();
        _textStream?.Dispose();

        // An abandoned render may still be reading the file through PDFium; the stream closes when it returns.
        if (_inFlight.IsCompleted)
        {
            _stream.Dispose();
        }
        else
        {
            _ = _inFlight.ContinueWith(_ => _stream.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}

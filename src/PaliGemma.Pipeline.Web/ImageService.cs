using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Documents;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Processing;

namespace PaliGemma.Pipeline.Web;

/// <summary>An encoded image and its MIME type.</summary>
internal sealed record ImagePayload(byte[] Bytes, string ContentType);

/// <summary>One page of one document version, and the source of the run that read it (null: none to read from).</summary>
internal sealed record PageAddress(string? RunSource, string Uri, string ETag, int Page);

/// <summary>Why an object's image could not be served; the status code the API answers with.</summary>
internal sealed class ImageUnavailableException(int statusCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>
/// Reads a result's object from the source of the run that wrote it (S3 or a local folder, through
/// <see cref="CatalogSourceFactory"/>, so a local read stays inside that run's folder and the ETag must still match),
/// within <see cref="ResultsBrowserOptions.MaxImageBytes"/>, and makes thumbnails kept only in a bounded memory cache.
/// A result on a document page shows that page: the document is copied to local disk (within
/// <see cref="DocumentOptions.MaxBytes"/>, see <see cref="DocumentCopies"/>) and the page is rendered with the Documents
/// library at the size asked for.
/// </summary>
internal sealed partial class ImageService : IDisposable
{
    private readonly CatalogSourceFactory _sources;
    private readonly ResultsBrowserOptions _options;
    private readonly ILogger<ImageService> _logger;
    private readonly DocumentCopies _documents;
    private readonly DocumentOptions _render;
    private readonly MemoryCache _thumbnails;
    private readonly Configuration _imageSharp;
    // Thumbnails decode whole images: at most one per core at a time, so a grid of 50 cannot exhaust memory or CPU.
    private readonly SemaphoreSlim _decodeSlots = new(Math.Max(1, Environment.ProcessorCount));

    public ImageService(CatalogSourceFactory sources, DocumentCopies documents, IOptions<ResultsBrowserOptions> options, IOptions<DocumentOptions> documentOptions,
        ILogger<ImageService> logger)
    {
        _sources = sources;
        _documents = documents;
        _options = options.Value;
        _logger = logger;
        var d = documentOptions.Value;
        // A browser page is rendered at the size shown (no fixed dpi), and never beyond what a thumbnail may decode.
        _render = new DocumentOptions
        {
            MaxPages = d.MaxPages,
            MaxBytes = d.MaxBytes,
            MaxPagePixels = Math.Min(d.MaxPagePixels, _options.MaxImagePixels),
            PdfDpi = null,
            TextLayerMinChars = d.TextLayerMinChars,
            RenderTimeoutMs = d.RenderTimeoutMs,
        };
        _thumbnails = new MemoryCache(new MemoryCacheOptions { SizeLimit = _options.ThumbnailCacheMegabytes * 1024L * 1024L });
        _imageSharp = Configuration.Default.Clone();
        // Backstop behind the header check: no buffer beyond what MaxImagePixels RGBA pixels need, plus decoder slack.
        var megabytes = (int)Math.Clamp((_options.MaxImagePixels * 8 / (1024 * 1024)) + 16, 16, int.MaxValue);
        _imageSharp.MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions { AllocationLimitMegabytes = megabytes });
        _imageSharp.MaxDegreeOfParallelism = 1;
    }

    /// <summary>The object's bytes as stored, with the MIME type of the recognised image format.</summary>
    public async Task<ImagePayload> GetImageAsync(ResultDetail result, CancellationToken ct)
    {
        if (result.Record.Page > 0)
        {
            return await GetPageImageAsync(new PageAddress(result.RunSource, result.Uri, result.ETag, result.Record.Page), result.Width, result.Height, ct).ConfigureAwait(false);
        }

        var bytes = await ReadAsync(result, ct).ConfigureAwait(false);
        IImageFormat? format;
        try
        {
            format = Image.DetectFormat(_imageSharp, bytes);
        }
        catch (Exception ex) when (ex is InvalidImageContentException or NotSupportedException)
        {
            format = null;
        }

        // Never serve bytes as an image type the decoder does not recognise (an SVG or HTML file could carry script).
        return format is null
            ? throw new ImageUnavailableException(415, "The object is not in a recognised raster image format.")
            : new ImagePayload(bytes, format.DefaultMimeType);
    }

    /// <summary>A JPEG no larger than <see cref="ResultsBrowserOptions.ThumbnailSize"/> on its longest side, EXIF-oriented.</summary>
    public async Task<ImagePayload> GetThumbnailAsync(ResultDetail result, CancellationToken ct)
    {
        if (result.Record.Page > 0)
        {
            return await GetPageThumbnailAsync(new PageAddress(result.RunSource, result.Uri, result.ETag, result.Record.Page), ct).ConfigureAwait(false);
        }

        var key = (result.Uri, result.ETag, _options.ThumbnailSize);
        if (_thumbnails.TryGetValue(key, out byte[]? cached) && cached is not null)
        {
            return new ImagePayload(cached, "image/jpeg");
        }

        var bytes = await ReadAsync(result, ct).ConfigureAwait(false);
        await _decodeSlots.WaitAsync(ct).ConfigureAwait(false);
        byte[] thumbnail;
        try
        {
            thumbnail = MakeThumbnail(bytes, ct);
        }
        finally
        {
            _decodeSlots.Release();
        }

        _thumbnails.Set(key, thumbnail, new MemoryCacheEntryOptions { Size = thumbnail.Length, SlidingExpiration = TimeSpan.FromHours(1) });
        return new ImagePayload(thumbnail, "image/jpeg");
    }

    /// <summary>A JPEG of the page no larger than <see cref="ResultsBrowserOptions.ThumbnailSize"/> on its longest side, cached like image thumbnails.</summary>
    public async Task<ImagePayload> GetPageThumbnailAsync(PageAddress page, CancellationToken ct)
    {
        var key = (page.Uri, page.ETag, page.Page, _options.ThumbnailSize);
        if (_thumbnails.TryGetValue(key, out byte[]? cached) && cached is not null)
        {
            return new ImagePayload(cached, "image/jpeg");
        }

        var side = _options.ThumbnailSize;
        var thumbnail = await RenderPageAsync(page, side, side, image =>
        {
            image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(side, side), Mode = ResizeMode.Max, Sampler = KnownResamplers.Bicubic }).BackgroundColor(Color.White));
            using var output = new MemoryStream();
            image.Save(output, new JpegEncoder { Quality = 82 });
            return output.ToArray();
        }, ct).ConfigureAwait(false);
        _thumbnails.Set(key, thumbnail, new MemoryCacheEntryOptions { Size = thumbnail.Length, SlidingExpiration = TimeSpan.FromHours(1) });
        return new ImagePayload(thumbnail, "image/jpeg");
    }

    /// <summary>
    /// A PNG of the page with the aspect a worker recorded for it (<paramref name="width"/> x <paramref name="height"/>,
    /// the pixels its boxes are in), scaled up to <see cref="PageImageSide"/> on its longest side so that text stays
    /// legible (a model input is often only a few hundred pixels), within <see cref="ResultsBrowserOptions.MaxImagePixels"/>;
    /// without a recorded size, the page's own aspect at that side.
    /// </summary>
    public async Task<ImagePayload> GetPageImageAsync(PageAddress page, int? width, int? height, CancellationToken ct)
    {
        var recorded = width is > 0 && height is > 0;
        var (w, h) = recorded ? ScaleUp(width!.Value, height!.Value) : (PageImageSide, PageImageSide);
        var png = await RenderPageAsync(page, w, h, image =>
        {
            // The recorded aspect exactly, so boxes placed in fractions of the recorded size land where the model saw them.
            image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(w, h), Mode = recorded ? ResizeMode.Stretch : ResizeMode.Max, Sampler = KnownResamplers.Bicubic })
                .BackgroundColor(Color.White));
            using var output = new MemoryStream();
            image.Save(output, new PngEncoder());
            return output.ToArray();
        }, ct).ConfigureAwait(false);
        return new ImagePayload(png, "image/png");
    }

    /// <summary>Longest side of a page image, unless the recorded page is larger.</summary>
    internal const int PageImageSide = 1024;

    private (int Width, int Height) ScaleUp(int width, int height)
    {
        var scale = Math.Max(1.0, (double)PageImageSide / Math.Max(width, height));
        scale = Math.Min(scale, Math.Sqrt((double)_options.MaxImagePixels / ((double)width * height)));
        return (Math.Max(1, (int)Math.Round(width * scale)), Math.Max(1, (int)Math.Round(height * scale)));
    }

    public void Dispose()
    {
        _thumbnails.Dispose();
        _decodeSlots.Dispose();
    }

    private byte[] MakeThumbnail(byte[] bytes, CancellationToken ct)
    {
        try
        {
            using var header = new MemoryStream(bytes, writable: false);
            var info = Image.Identify(_imageSharp, header)
                ?? throw new ImageUnavailableException(415, "The object is not in a recognised raster image format.");
            if ((long)info.Width * info.Height > _options.MaxImagePixels)
            {
                throw new ImageUnavailableException(413,
                    $"The image is {info.Width}x{info.Height}; thumbnails are made for at most {_options.MaxImagePixels} pixels ({ResultsBrowserOptions.SectionName}:MaxImagePixels).");
            }

            ct.ThrowIfCancellationRequested();
            using var image = Image.Load(_imageSharp, bytes);
            var side = _options.ThumbnailSize;
            image.Mutate(x => x
                .AutoOrient()
                .Resize(new ResizeOptions { Size = new Size(side, side), Mode = ResizeMode.Max, Sampler = KnownResamplers.Bicubic })
                // JPEG has no alpha: flatten transparent pixels on white, as the model's preprocessing does.
                .BackgroundColor(Color.White));
            using var output = new MemoryStream();
            image.Save(output, new JpegEncoder { Quality = 82 });
            return output.ToArray();
        }
        catch (Exception ex) when (ex is UnknownImageFormatException or InvalidImageContentException or NotSupportedException or InvalidMemoryOperationException)
        {
            throw new ImageUnavailableException(415, $"The image cannot be decoded for a thumbnail: {ex.Message}", ex);
        }
    }

    /// <summary>Renders <paramref name="page"/> to cover <paramref name="width"/> x <paramref name="height"/> and encodes it with <paramref name="encode"/>.</summary>
    private async Task<byte[]> RenderPageAsync(PageAddress page, int width, int height, Func<SixLabors.ImageSharp.Image, byte[]> encode, CancellationToken ct)
    {
        if (page.RunSource is null)
        {
            throw new ImageUnavailableException(404, "The page was not written by a run, so there is no source to read its document from.");
        }

        string path;
        try
        {
            path = await _documents.GetAsync(page.RunSource, page.Uri, page.ETag, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnreadable(ex))
        {
            throw Unavailable(ex, page.Uri, $"{DocumentOptions.SectionName}:MaxBytes");
        }

        await _decodeSlots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var kind = Sniff(path) ?? throw new ImageUnavailableException(415, "The object is not a PDF or TIFF document.");
            using var reader = DocumentReader.Open(path, kind, _render, _logger, ct);
            if (page.Page > reader.PageCount)
            {
                throw new ImageUnavailableException(404, $"The document has {reader.PageCount} pages; there is no page {page.Page}.");
            }

            using var rendered = reader.RenderPage(page.Page, width, height, null, ct);
            return encode(rendered.Image);
        }
        catch (DocumentException ex)
        {
            throw new ImageUnavailableException(ex.Reason == DocumentFailureReason.TooLarge ? 413 : 415, $"The document cannot be opened ({ex.ReasonCode}): {ex.Message}", ex);
        }
        catch (DocumentPageException ex)
        {
            throw new ImageUnavailableException(ex.ReasonCode switch { DocumentPageException.TooLarge => 413, DocumentPageException.Timeout => 503, _ => 415 },
                $"Page {page.Page} cannot be rendered ({ex.ReasonCode}): {ex.Message}", ex);
        }
        finally
        {
            _decodeSlots.Release();
        }
    }

    private static DocumentKind? Sniff(string path)
    {
        var head = new byte[DocumentSniffer.PdfHeaderWindow];
        using var file = File.OpenRead(path);
        var read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return DocumentSniffer.Sniff(head.AsSpan(0, read));
    }

    private async Task<byte[]> ReadAsync(ResultDetail result, CancellationToken ct)
    {
        if (result.RunSource is null)
        {
            throw new ImageUnavailableException(404, "The result was not written by a run, so there is no source to read its object from.");
        }

        try
        {
            var source = _sources.Create(result.RunSource);
            return await source.ReadAsync(result.Uri, result.ETag, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnreadable(ex))
        {
            throw Unavailable(ex, result.Uri, $"{ResultsBrowserOptions.SectionName}:MaxImageBytes");
        }
    }

    private static bool IsUnreadable(Exception ex) => ex is CatalogObjectException or ArgumentException or DirectoryNotFoundException or Amazon.S3.AmazonS3Exception;

    /// <summary>What an unreadable object means to the client; <paramref name="limitName"/> is the size limit that applied.</summary>
    private ImageUnavailableException Unavailable(Exception ex, string uri, string limitName)
    {
        switch (ex)
        {
            case CatalogObjectMissingException:
                return new ImageUnavailableException(404, "The object is no longer in its source.", ex);
            case CatalogObjectChangedException:
                return new ImageUnavailableException(409, "The object changed since this result was made (its ETag differs).", ex);
            case CatalogObjectTooLargeException tooLarge:
                return new ImageUnavailableException(413, $"The object is {tooLarge.Size} bytes; the limit ({limitName}) is {tooLarge.Limit}.", ex);
            default:
                ReadFailed(_logger, uri, ex.Message);
                return new ImageUnavailableException(404, "The object's source cannot be read from this server.", ex);
        }
    }

    [LoggerMessage(EventId = 8002, EventName = "ImageReadFailed", Level = LogLevel.Warning, Message = "Reading {Uri} failed: {Message}")]
    private static partial void ReadFailed(ILogger logger, string uri, string message);
}
